// A call that survives a network change: the signaling connection of one side is cut (a TCP
// proxy resets it) and, at the same moment, every media path between the two pages dies for
// good (a UDP relay that the media must go through closes its ports). When signaling comes
// back, the impolite side restarts ICE: on its own resume, or when the other side comes back.
// Media flows again only on paths an ICE restart found.
import t, { type Test } from 'tap'
import { freshRoom, startServer } from '../helpers/server.js'
import { CallPage } from './call-page.js'
import { launchChromium } from './chromium.js'
import { TcpProxy } from './tcp-proxy.js'
import { UdpRelay } from './udp-relay.js'

const timeout = 30_000
const browser = await launchChromium()
t.teardown(() => browser.close())

/** The first ICE username fragment of the page's remote description. */
async function remoteUfrag (page: CallPage): Promise<string> {
  return await page.run(call => /a=ice-ufrag:(\S+)/.exec([...call.peers.values()][0].connection.remoteDescription!.sdp)![1], null)
}

/** The page's one remote peer: whether it is polite, how many ICE restarts it started. */
async function peerState (page: CallPage): Promise<{ polite: boolean, iceRestarts: number }> {
  return await page.run(call => {
    const peer = [...call.peers.values()][0]
    return { polite: peer.polite, iceRestarts: peer.iceRestarts }
  }, null)
}

/**
 * Two pages in a call, each through its own TCP proxy, their media through a UDP relay; the
 * page whose signaling is cut is the impolite one or the polite one, as `resumes` says.
 */
async function networkChange (t: Test, resumes: 'impolite' | 'polite'): Promise<void> {
  const server = await startServer(t, { serveClient: true })
  const proxies = [await TcpProxy.start(Number(new URL(server.http).port)), await TcpProxy.start(Number(new URL(server.http).port))]
  const relay = new UdpRelay()
  const context = await browser.newContext()
  t.teardown(async () => {
    await context.close()
    relay.close()
    for (const proxy of proxies) await proxy.close()
  })
  await relay.install(context)
  const roomId = freshRoom()
  const pages = [
    await CallPage.open(context, `http://127.0.0.1:${proxies[0].port}`),
    await CallPage.open(context, `http://127.0.0.1:${proxies[1].port}`)
  ]
  for (const page of pages) await page.join({ roomId })
  for (const page of pages) {
    await page.connectedTo(1)
    await page.videosPlay(1)
  }
  const before = await Promise.all(pages.map(remoteUfrag))
  const states = await Promise.all(pages.map(peerState))
  t.same(states.map(s => s.iceRestarts), [0, 0], 'no ICE restart so far')
  const impolite = states.findIndex(s => !s.polite)
  const cut = resumes === 'impolite' ? impolite : 1 - impolite
  const portsBefore = relay.opened

  relay.cut()
  proxies[cut].cut()
  await pages[cut].page.waitForFunction(() => (window as unknown as { call: { client: { state: string } } }).call.client.state === 'reconnecting', undefined, { timeout })
  for (const page of pages) {
    await page.page.waitForFunction(() => {
      const peers = [...(window as unknown as { call: import('../../lib/client.js').Call }).call.peers.values()]
      return ['disconnected', 'failed'].includes(peers[0].connection.iceConnectionState)
    }, undefined, { timeout })
  }
  t.pass('the media paths are down on both sides, and one side\'s signaling')

  relay.restore()
  proxies[cut].restore()
  for (const page of pages) {
    await page.connectedTo(1)
    await page.videosPlay(1)
  }
  t.pass('both sides are connected again and their videos play')

  t.same((await Promise.all(pages.map(peerState))).map(s => s.iceRestarts > 0), pages.map((_, i) => i === impolite),
    'the impolite side restarted ICE, the polite one answered')
  const after = await Promise.all(pages.map(remoteUfrag))
  t.not(after[0], before[0], 'new ICE credentials on one side')
  t.not(after[1], before[1], 'and on the other')
  t.ok(relay.opened > portsBefore, 'media flows on relay ports made after the cut: new paths')
  t.same(await pages[cut].events(), [`peer ${await pages[1 - cut].peerId()}`, 'reconnected'], 'the cut side resumed its session; nobody left')
  t.same(await pages[1 - cut].events(), [`peer ${await pages[cut].peerId()}`], 'the other side never lost its peer')
}

t.test('the impolite side resumes after a network change and restarts ICE', t => networkChange(t, 'impolite'))
t.test('the polite side resumes; the impolite side restarts ICE when it comes back', t => networkChange(t, 'polite'))
