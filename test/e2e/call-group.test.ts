// joinCall in a group room: a page whose signaling connection is cut comes back to the same
// call; a peer that left meanwhile is gone from it when it resumes (ROOM on resume), and the
// others saw it away and back.
import t from 'tap'
import { freshRoom, startServer } from '../helpers/server.js'
import { CallPage } from './call-page.js'
import { launchChromium } from './chromium.js'
import { TcpProxy } from './tcp-proxy.js'

const timeout = 30_000
const browser = await launchChromium()
t.teardown(() => browser.close())

/** Waits until the page sees its remote peer `peerId` away (its signaling connection down) or back. */
async function seesAway (page: CallPage, peerId: string, away: boolean): Promise<void> {
  await page.page.waitForFunction(([peerId, away]) =>
    (window as unknown as { call: import('../../lib/client.js').Call }).call.peers.get(peerId)?.away === away, [peerId, away] as const, { timeout })
}

t.test('a group call goes on across one page\'s dropped signaling connection', async t => {
  const server = await startServer(t, { serveClient: true, roomSize: 3 })
  const proxy = await TcpProxy.start(Number(new URL(server.http).port))
  const context = await browser.newContext()
  t.teardown(async () => {
    await context.close()
    await proxy.close()
  })
  const roomId = freshRoom()
  const [ada, bob, cyd] = [
    await CallPage.open(context, `http://127.0.0.1:${proxy.port}`),
    await CallPage.open(context, server.http),
    await CallPage.open(context, server.http)
  ]
  for (const page of [ada, bob, cyd]) await page.join({ roomId })
  for (const page of [ada, bob, cyd]) {
    await page.connectedTo(2)
    await page.videosPlay(2)
  }
  const [adaId, bobId, cydId] = await Promise.all([ada, bob, cyd].map(page => page.peerId()))
  t.same(await ada.peerIds(), [bobId, cydId].sort(), 'a mesh: each page has the two others')

  proxy.cut()
  await seesAway(bob, adaId, true)
  await seesAway(cyd, adaId, true)
  t.pass('the others see Ada away')
  // Cyd leaves while Ada cannot hear it.
  await cyd.run(call => call.leave(), null)
  await bob.page.waitForFunction(() => (window as unknown as { call: import('../../lib/client.js').Call }).call.peers.size === 1, undefined, { timeout })

  proxy.restore()
  await ada.page.waitForFunction(() => (window as unknown as { callEvents: string[] }).callEvents.includes('reconnected'), undefined, { timeout })
  await seesAway(bob, adaId, false)
  t.pass('Ada resumed, and Bob sees it back')
  await ada.page.waitForFunction(() => (window as unknown as { call: import('../../lib/client.js').Call }).call.peers.size === 1, undefined, { timeout })
  t.same(await ada.events(), [`peer ${bobId}`, `peer ${cydId}`, 'reconnected', `peer-left ${cydId}`],
    'on resuming, Ada learns that Cyd left')
  for (const page of [ada, bob]) {
    await page.connectedTo(1)
    await page.videosPlay(1)
  }
  t.pass('Ada and Bob go on with their call')
  t.same(await Promise.all([ada, bob].map(page => page.run(call => [...call.peers.values()][0].iceRestarts, null))), [0, 0],
    'the media path never broke: no ICE restart')
})
