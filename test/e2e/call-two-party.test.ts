// joinCall in a two-party room (the default room size): two pages that see each other, made
// with the high-level API only, and the end of the call when one of them leaves.
import t, { type Test } from 'tap'
import type { NotifyOptions } from '../../lib/index.js'
import { freshRoom, startServer } from '../helpers/server.js'
import { CallPage } from './call-page.js'
import { launchChromium } from './chromium.js'

const browser = await launchChromium()
t.teardown(() => browser.close())

/** Two pages of a plugin app (started with `options`) that join one room and see each other. */
async function twoPagesInCall (t: Test, options: NotifyOptions = {}): Promise<[CallPage, CallPage]> {
  const server = await startServer(t, { ...options, serveClient: true })
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const roomId = freshRoom()
  const pages: [CallPage, CallPage] = [await CallPage.open(context, server.http), await CallPage.open(context, server.http)]
  for (const page of pages) await page.join({ roomId })
  for (const page of pages) {
    await page.connectedTo(1)
    await page.videosPlay(1)
  }
  return pages
}

t.test('two pages call each other with joinCall, and a leave ends the call for both', async t => {
  const [first, second] = await twoPagesInCall(t)
  t.pass('each page shows the other\'s video, playing')
  t.equal(await first.run(call => call.size, null), 2, 'a two-party room')

  // Each side knows the other by the id the server gave it (both hold a session).
  const [firstId, secondId] = [await first.peerId(), await second.peerId()]
  t.same(await first.peerIds(), [secondId])
  t.same(await second.peerIds(), [firstId])
  const polite = await Promise.all([first, second].map(page => page.run(call => [...call.peers.values()][0].polite, null)))
  t.same(polite.sort(), [false, true], 'exactly one side is polite')

  await second.run(call => call.leave(), null)
  await first.page.waitForFunction(() => (window as unknown as { callEvents: string[] }).callEvents.includes('ended peer-left'))
  t.same(await first.events(), [`peer ${secondId}`, `peer-left ${secondId}`, 'ended peer-left'], 'the other side hears that the call ended')
  t.same(await second.events(), [`peer ${firstId}`, `peer-left ${firstId}`, 'ended hangup'])
  t.equal(await first.run(call => [...call.peers.values()].length, null), 0)
})

t.test('without sessions, the two sides still agree on who is polite', async t => {
  const [first, second] = await twoPagesInCall(t, { resumeGrace: 0 })
  // No server ids: each made one up and said it in its hello.
  t.same(await first.peerIds(), [await second.peerId()])
  t.same(await second.peerIds(), [await first.peerId()])
})

t.test('a full room rejects joinCall with a refused NotifyError', async t => {
  const server = await startServer(t, { serveClient: true })
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const roomId = freshRoom()
  const pages = [await CallPage.open(context, server.http), await CallPage.open(context, server.http), await CallPage.open(context, server.http)]
  for (const page of pages) await page.join({ roomId })
  t.match(await pages[2].joinError(), { kind: 'refused' })
  t.equal(await pages[0].joinError(), undefined)
})
