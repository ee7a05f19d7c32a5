// The browser client (/client.js) driven in headless Chromium against the standalone server,
// with the other peer played by a plain WebSocket in the test.
import { once } from 'node:events'
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { launchChromium } from './chromium.js'
import { ClientPage } from './client-page.js'
import { startServer } from './standalone-server.js'

const iceServer = 'stun:stun.example.org:3478'
const server = await startServer(['--ice-server', iceServer])
const browser = await launchChromium()
const page = await ClientPage.open(browser, server.url)
t.teardown(async () => {
  await browser.close()
  await server.stop()
})

let rooms = 0
const newRoom = (): string => `client-test-${++rooms}`

/** A peer without a browser: a WebSocket in the room, keeping what it receives. */
async function nodePeer (roomId: string): Promise<{ socket: WebSocket, frames: unknown[], closed: Promise<[number, string]> }> {
  const socket = new WebSocket(new URL(`/call/${roomId}`, server.url.replace('http', 'ws')))
  const frames: unknown[] = []
  socket.on('message', data => frames.push(JSON.parse(data.toString())))
  const closed = once(socket, 'close').then(([code, reason]) => [code as number, String(reason)] as [number, string])
  await once(socket, 'open')
  return { socket, frames, closed }
}

async function until (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise(resolve => setTimeout(resolve, 20))
}

t.test('getConfiguration answers with the server\'s ICE servers', async t => {
  const client = await page.join({ roomId: newRoom() })
  await page.event(client, 'open')
  const configuration = await page.run(client, client => client.getConfiguration(), null)
  t.same(configuration, { iceServers: [{ urls: iceServer }] })
  await page.run(client, client => client.close(), null)
})

t.test('notify both ways, queued data first, presence of the other peer', async t => {
  const roomId = newRoom()
  const client = await page.join({ roomId })
  await page.event(client, 'open')
  await page.run(client, client => {
    client.notify({ n: 1 })
    client.notify('two')
    client.notify(undefined)
  }, null)

  const peer = await nodePeer(roomId)
  t.equal(await page.event(client, 'presence'), 'joined', 'the client hears that the other peer joined')
  await until(() => peer.frames.length === 3)
  t.same(peer.frames, [
    { method: 'NOTIFY', data: { n: 1 } },
    { method: 'NOTIFY', data: 'two' },
    { method: 'NOTIFY', data: null }
  ], 'what the client sent before the peer joined arrives first, in order')

  await page.run(client, client => client.notify({ n: 4 }), null)
  await until(() => peer.frames.length === 4)
  t.same(peer.frames[3], { method: 'NOTIFY', data: { n: 4 } })

  peer.socket.send(JSON.stringify({ method: 'NOTIFY', data: { from: 'node' } }))
  peer.socket.send(JSON.stringify({ method: 'NOTIFY', data: [1, 2, 3] }))
  t.same(await page.event(client, 'notify', 1), { from: 'node' })
  t.same(await page.event(client, 'notify', 2), [1, 2, 3])

  peer.socket.close(1000)
  t.same(await page.event(client, 'peer-left'), { code: 1000, reason: 'the other peer left', cause: 'peer-left' })
  t.same(await page.event(client, 'closed'), { code: 1000, reason: 'the other peer left', cause: 'peer-left' })
  t.equal(await page.run(client, client => client.state, null), 'closed')
  t.equal(await page.run(client, client => client.notify('late'), null), false, 'a closed client sends nothing')
})

t.test('hanging up closes with 1000 and ends the call for the other peer', async t => {
  const roomId = newRoom()
  const client = await page.join({ roomId })
  await page.event(client, 'open')
  const peer = await nodePeer(roomId)
  await page.event(client, 'presence')
  await page.run(client, client => client.close(), null)
  t.same(await page.event(client, 'closed'), { code: 1000, reason: 'hang up', cause: 'hangup' })
  t.same(await peer.closed, [1000, 'the other peer left'], 'the other peer is closed at once: a hang-up, not a drop')
  t.same(await page.eventTypes(client), ['open', 'presence', 'closed'])
})

t.test('failed answers: a request rejects, an unrequested one is an error event', async t => {
  const client = await page.join({ roomId: newRoom() })
  await page.event(client, 'open')
  t.same(await page.run(client, client => client.request('/no-such-resource'), null),
    { rejected: { kind: 'failed', reason: 'unknown resource', message: 'the server answered: unknown resource' } })

  // Alone in the room, the 65th queued message is over the queue's default limit.
  await page.run(client, client => {
    for (let i = 0; i < 65; i++) client.notify({ i })
  }, null)
  t.same(await page.event(client, 'error'), { kind: 'failed', reason: 'queue full', message: 'the server answered: queue full' })
  t.equal(await page.run(client, client => client.state, null), 'open', 'the connection stays open')
  await page.run(client, client => client.close(), null)
})

t.test('a full room refuses the handshake: error, closed and a rejected ready', async t => {
  const roomId = newRoom()
  const first = await nodePeer(roomId)
  const second = await nodePeer(roomId)
  const client = await page.join({ roomId })
  const refused = await page.event(client, 'error') as { kind: string }
  t.equal(refused.kind, 'refused')
  t.match(await page.event(client, 'closed'), { code: 1006, cause: 'refused' })
  t.match(await page.run(client, client => client.ready, null), { rejected: { kind: 'refused' } })
  t.same(await page.eventTypes(client), ['error', 'closed'])
  first.socket.close()
  second.socket.close()
})

t.test('a request without an answer times out; pending requests end with the client', async t => {
  // A server that accepts the WebSocket and never answers.
  const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(silent, 'listening')
  t.teardown(() => new Promise(resolve => silent.close(resolve)))
  const client = await page.join(`ws://127.0.0.1:${(silent.address() as { port: number }).port}/call/silent`, { resume: false })
  await page.event(client, 'open')
  t.match(await page.run(client, client => client.getConfiguration(100), null),
    { rejected: { kind: 'timeout', message: 'no answer to GET /peerconnection within 100 ms' } })
  t.match(await page.run(client, client => {
    const answer = client.getConfiguration()
    client.close()
    return answer
  }, null), { rejected: { kind: 'closed' } })
})

t.test('room URLs', async t => {
  const urls = await page.page.evaluate(async () => {
    const { roomUrl } = await import('/client.js' as string) as typeof import('../../lib/client.js')
    return [
      roomUrl({ roomId: 'abc' }).href,
      roomUrl({ roomId: 'abc', url: '/rtc' }).href,
      roomUrl({ roomId: 'a~b', url: 'https://example.org/rtc/' }).href,
      roomUrl('/call/xyz?token=t').href,
      roomUrl('wss://example.org/call/xyz').href
    ]
  })
  const ws = server.url.replace('http', 'ws')
  t.same(urls, [
    `${ws}call/abc`,
    `${ws}rtc/call/abc`,
    'wss://example.org/rtc/call/a~b',
    `${ws}call/xyz?token=t`,
    'wss://example.org/call/xyz'
  ])
})
