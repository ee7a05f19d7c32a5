// Resume: the demo call keeps its media while the callee's signaling connection is cut without
// a close frame (a TCP proxy resets it) and restored.
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { launchChromium } from './chromium.js'
import { connected, remoteVideoPlays, says, startDemoCall, type DemoCall } from './demo-call.js'
import { startServer } from './standalone-server.js'
import { TcpProxy } from './tcp-proxy.js'

const browser = await launchChromium()
t.teardown(() => browser.close())

const timeout = 30_000

declare global {
  interface Window {
    /** What a page's client and peer connection did, recorded by this test. */
    seen: string[]
  }
}

/**
 * A demo call through a standalone server started with `flags`, the callee's page going
 * through a TCP proxy; everything is closed when `t` ends.
 */
async function callThroughProxy (t: Test, flags: string[] = []): Promise<DemoCall & { proxy: TcpProxy }> {
  const server = await startServer(flags)
  const proxy = await TcpProxy.start(server.port)
  const context = await browser.newContext()
  t.teardown(async () => {
    await context.close()
    await proxy.close()
    await server.stop()
  })
  const call = await startDemoCall(context, server.url, `http://127.0.0.1:${proxy.port}`)
  return { ...call, proxy }
}

t.test('a dropped signaling connection comes back without ending the call', async t => {
  const { caller, callee, proxy } = await callThroughProxy(t)
  for (const page of [caller, callee]) {
    await connected(page)
    await remoteVideoPlays(page)
    await page.waitForFunction(() => window.call?.client?.session !== undefined, undefined, { timeout })
    // From here on, record what the client and the peer connection do.
    await page.evaluate(() => {
      const seen: string[] = window.seen = []
      const { client, pc } = window.call!
      // presence: its state; notify: the note the test sends; the rest: just the type.
      for (const type of ['presence', 'peer-left', 'closed', 'reconnecting', 'reconnected', 'notify']) {
        client!.addEventListener(type, event => {
          const detail = (event as CustomEvent).detail
          seen.push(type === 'presence' ? `presence ${detail}` : type === 'notify' ? `notify ${detail?.note}` : type)
        })
      }
      pc!.addEventListener('connectionstatechange', () => seen.push(`pc ${pc!.connectionState}`))
    })
  }
  const seen = (page: Page): Promise<string[]> => page.evaluate(() => window.seen)
  const saw = (page: Page, entry: string, times = 1): Promise<unknown> =>
    page.waitForFunction(([entry, times]) => window.seen.filter(e => e === entry).length >= times, [entry, times] as const, { timeout })

  proxy.cut()
  await says(callee, 'Reconnecting to the server… (the call goes on meanwhile)')
  await saw(caller, 'presence reconnecting')
  await says(caller, 'The other side is reconnecting…')
  t.pass('both pages say what is going on')

  // Attempts made while the network is down fail; the media flows on meanwhile.
  await saw(callee, 'reconnecting', 2)
  t.ok(proxy.refused > 0, 'the client tried while the network was down')
  await remoteVideoPlays(caller)
  await remoteVideoPlays(callee)
  t.pass('video plays both ways while signaling is down')

  proxy.restore()
  await saw(callee, 'reconnected')
  await saw(caller, 'presence back')
  await says(callee, 'In a call.')
  await says(caller, 'In a call.')
  t.match(await callee.locator('#log').textContent(), /Reconnected to the server\./, 'the callee\'s log says it reconnected')

  for (const page of [caller, callee]) {
    t.equal(await page.evaluate(() => window.call?.pc?.connectionState), 'connected')
    t.equal(await page.evaluate(() => window.call?.client?.state), 'open')
    await remoteVideoPlays(page)
  }
  t.notOk((await seen(caller)).some(e => e.startsWith('pc ') || e.startsWith('closed') || e.startsWith('peer-left')),
    'the caller\'s call never changed state and its signaling was never closed')
  t.notOk((await seen(callee)).some(e => e.startsWith('pc ') || e.startsWith('closed')),
    'the callee\'s call never changed state')

  // Signaling works both ways on the resumed connection.
  await caller.evaluate(() => window.call!.client!.notify({ note: 'from the caller' }))
  await callee.evaluate(() => window.call!.client!.notify({ note: 'from the callee' }))
  await saw(callee, 'notify from the caller')
  await saw(caller, 'notify from the callee')
  t.pass('NOTIFY is relayed both ways after the resume')

  // A second drop is resumed too: the resumed connection holds the session again.
  proxy.cut()
  proxy.restore()
  await saw(callee, 'reconnected', 2)
  await saw(caller, 'presence reconnecting', 2)
  await saw(caller, 'presence back', 2)
  await says(caller, 'In a call.')
  t.equal(await caller.evaluate(() => window.call?.client?.state), 'open', 'a second drop is resumed as well')
})

t.test('a connection that stays down past the grace period ends the call', async t => {
  const { caller, callee, proxy } = await callThroughProxy(t, ['--resume-grace', '2'])
  for (const page of [caller, callee]) {
    await connected(page)
    await page.waitForFunction(() => window.call?.client?.session !== undefined, undefined, { timeout })
  }
  proxy.cut()
  await says(caller, 'The other side is reconnecting…')
  await says(callee, 'Lost the connection to the server: the call has ended.')
  await says(caller, 'The other side did not come back: the call has ended.')
  t.equal(await callee.evaluate(() => window.call?.client?.state), 'closed', 'the callee gave up')
  t.equal(await caller.evaluate(() => window.call?.pc?.connectionState), 'closed', 'the caller ended the call')
})

t.test('with sessions turned off on the server, a drop ends the call at once', async t => {
  const { caller, callee, proxy } = await callThroughProxy(t, ['--resume-grace', '0'])
  await connected(caller)
  await connected(callee)
  // The answer to GET /session came before the offer did (one connection, in order).
  t.equal(await callee.evaluate(() => window.call?.client?.session), undefined, 'no session was granted')
  t.notMatch(await callee.locator('#log').textContent(), /sessions are disabled/, 'and that is no error for the page')
  proxy.cut()
  await says(callee, 'Lost the connection to the server: the call has ended.')
  await says(caller, 'The other side hung up.')
  t.pass('the seed\'s rule: either side leaving ends the call')
})
