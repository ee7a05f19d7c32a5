// The demo page in a room of three: a mesh call in which each page shows the other two, one
// leaving does not end it for the others, and a fourth is told the call is full.
import type { Page } from 'playwright-core'
import t from 'tap'
import { launchChromium } from './chromium.js'
import { says } from './demo-call.js'
import { startDemoApp } from './demo-app.js'

const timeout = 60_000
const browser = await launchChromium()
t.teardown(() => browser.close())

/** Waits until the page shows exactly `n` remote videos, each with a size and playing on from where it is now. */
async function remoteVideosPlay (page: Page, n: number): Promise<void> {
  const from = await page.evaluate(() => Array.from(document.querySelectorAll<HTMLVideoElement>('video.remote')).map(v => v.currentTime))
  await page.waitForFunction(([n, from]) => {
    const videos = Array.from(document.querySelectorAll<HTMLVideoElement>('video.remote'))
    return videos.length === n && videos.every((v, i) => v.videoWidth > 0 && v.currentTime > (from[i] ?? 0))
  }, [n, from] as const, { timeout })
}

/** The peer ids a page is connected to (its RTCPeerConnections in state connected), sorted. */
async function connectedPeers (page: Page): Promise<string[]> {
  return await page.evaluate(() => [...window.call!.joined!.peers.values()]
    .filter(peer => peer.connection.connectionState === 'connected').map(peer => peer.peerId).sort())
}

t.test('three pages in a room of three: each sees the other two', async t => {
  const server = await startDemoApp(t, { roomSize: 3 })
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const first = await context.newPage()
  await first.goto(server.http)
  const link = await first.locator('#share a').getAttribute('href', { timeout })
  t.ok(link, 'the first page shows a link')
  const pages = [first]
  for (let i = 0; i < 2; i++) {
    const page = await context.newPage()
    await page.goto(link!)
    pages.push(page)
  }

  for (const page of pages) {
    await remoteVideosPlay(page, 2)
    await says(page, 'In a call with 2 others.')
  }
  t.pass('every page shows two remote videos, playing, and says so')

  // Three peers, three connections: each page is connected to the two others, by their ids.
  const ids = await Promise.all(pages.map(page => page.evaluate(() => window.call!.joined!.peerId)))
  t.equal(new Set(ids).size, 3, 'three distinct peers')
  for (const [i, page] of pages.entries()) {
    t.same(await connectedPeers(page), ids.filter((_, j) => j !== i).sort(), `page ${i + 1} is connected to the other two`)
    t.equal(await page.evaluate(() => window.call!.joined!.size), 3)
  }
  t.notOk(await pages[1].locator('#share').isHidden(), 'in a group call everyone may share the link')

  const fourth = await context.newPage()
  await fourth.goto(link!)
  await says(fourth, 'This call is full: 3 people are already in it.')
  t.pass('a fourth page is told plainly that the call is full')

  await pages[2].click('#hangup')
  await says(pages[2], 'You hung up.')
  for (const page of pages.slice(0, 2)) {
    await says(page, 'In a call with 1 other person.')
    await remoteVideosPlay(page, 1)
  }
  t.same(await connectedPeers(pages[0]), [ids[1]], 'the call goes on between the two others')
})
