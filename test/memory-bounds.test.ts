// Memory and CPU bounds against a client that does not play fair (docs/protocol.md#limits):
// slow readers, pongs without pings, many connections from one address, many lone peers.
import t from 'tap'
import type WebSocket from 'ws'
import { join, sleep, until, type TestPeer } from './helpers/client.js'
import { freshRoom, joinPair, startServer } from './helpers/server.js'

const mib = 1024 * 1024

/** Stops reading the socket: what the server sends piles up in its buffers. */
function stopReading (peer: TestPeer): void {
  (peer.socket as WebSocket & { _socket: { pause: () => void } })._socket.pause()
}

/** Sends `frame` `perSecond` times a second until `until` resolves or the socket closes. */
async function flood (peer: TestPeer, frame: string, perSecond: number, stop: Promise<unknown>): Promise<number> {
  let sent = 0
  let stopped = false
  void stop.finally(() => { stopped = true })
  while (!stopped && peer.socket.readyState === peer.socket.OPEN) {
    peer.send(frame)
    sent++
    await sleep(1000 / perSecond)
  }
  return sent
}

function rss (): number {
  (globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().rss
}

t.test('a peer that never reads is closed once its outgoing buffer passes maxBufferedBytes; its partner hears 1000', async t => {
  // Ten pairs: one side floods 64 KB NOTIFYs inside the rate limit, the other never reads.
  // Without a bound the server would buffer 10 × 45 × 64 KB ≈ 29 MB a second.
  const server = await startServer(t, { ipMessageRate: 0, ipByteRate: 0 })
  const frame = JSON.stringify({ method: 'NOTIFY', data: 'x'.repeat(64 * 1024 - 40) })
  const before = rss()
  const pairs = await Promise.all(Array.from({ length: 10 }, async () => {
    const { a: sender, b: reader } = await joinPair(server)
    stopReading(reader)
    return { sender, reader }
  }))
  const sent = await Promise.all(pairs.map(async ({ sender }) => await flood(sender, frame, 45, sleep(6000))))
  const grown = (rss() - before) / mib
  const unbounded = sent.reduce((a, b) => a + b) * 64 / 1024
  t.ok(grown < 50, `server memory grew ${grown.toFixed(1)} MiB (bound: 50; unbounded it would be ${unbounded.toFixed(0)} MiB)`)
  for (const { sender } of pairs) {
    t.same(await Promise.race([sender.closed, sleep(5000)]), { code: 1000, reason: 'the other peer left' }, 'the sender hears its partner left')
  }
  await until(() => server.app.notify.stats().peers === 0)
})

t.test('answers a peer does not read count too: a lone peer sending GETs with a 60 KB msg_id is closed', async t => {
  const server = await startServer(t, { ipMessageRate: 0, ipByteRate: 0, maxBufferedBytes: 256 * 1024 })
  const peer = await join(server.room(freshRoom()))
  stopReading(peer)
  const get = `{"method":"GET","resource":"/peerconnection","msg_id":"${'m'.repeat(60_000)}"}`
  void flood(peer, get, 45, sleep(10_000))
  await until(() => server.app.notify.stats().peers === 0, 10_000)
  t.pass('closed as too slow')
})

t.test('a pong the server did not ask for is not a sign of life: a peer that never reads is cut off', async t => {
  const server = await startServer(t, { heartbeatInterval: 0.2 })
  const room = freshRoom()
  const partner = await join(server.room(room))
  const mute = await join(server.room(room), { autoPong: false })
  stopReading(mute)
  const pongs = setInterval(() => mute.socket.pong(Buffer.from('alive')), 50)
  t.teardown(() => clearInterval(pongs))
  t.same(await Promise.race([partner.closed, sleep(5000)]), { code: 1000, reason: 'the other peer left' })
  await until(() => server.app.notify.stats().peers === 0)
})

t.test('a peer that answers the pings it reads stays', async t => {
  const { a, b } = await joinPair(await startServer(t, { heartbeatInterval: 0.1 }))
  await sleep(500)
  a.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'still here' })
})

t.test('connections from one address share a frame budget (ipMessageRate)', async t => {
  // Each connection stays under its own limit; together they are over their address's.
  const server = await startServer(t, { ipMessageRate: 10, ipByteRate: 0 })
  const peers = await Promise.all(Array.from({ length: 8 }, async () => await join(server.room(freshRoom()))))
  const answers: Array<Record<string, unknown>> = []
  for (let round = 0; round < 10; round++) {
    for (const peer of peers) peer.send({ method: 'GET', resource: '/peerconnection', msg_id: round })
  }
  for (const peer of peers) for (let round = 0; round < 10; round++) answers.push(await peer.next())
  const limited = answers.filter(a => a.code === 'failed' && a.reason === 'rate limited').length
  // The budget holds four seconds' worth (40 frames); 80 were sent at once.
  t.equal(limited, 40, `${limited} of 80 frames refused`)
})

t.test('connections from one address share a byte budget (ipByteRate)', async t => {
  const { a, b } = await joinPair(await startServer(t, { ipMessageRate: 0, ipByteRate: 10_000 }))
  const big = { method: 'NOTIFY', data: 'x'.repeat(9_000) }
  for (let i = 0; i < 6; i++) a.send(big) // 54 KB: four seconds' budget is 40 KB
  for (let i = 0; i < 4; i++) t.same(await b.next(), big)
  t.same(await a.next(), { code: 'failed', reason: 'rate limited' })
  t.same(await a.next(), { code: 'failed', reason: 'rate limited' })
})

t.test('a connection over its address\'s budget is not read meanwhile: its flood waits in TCP, not in this process\'s work', async t => {
  const { a, b } = await joinPair(await startServer(t, { ipMessageRate: 0, ipByteRate: 50_000 }))
  const big = { method: 'NOTIFY', data: 'x'.repeat(40_000) }
  // 2.4 MB at once; four seconds' budget (200 KB) lets five through.
  for (let i = 0; i < 60; i++) a.send(big)
  for (let i = 0; i < 5; i++) t.same(await b.next(), big)
  t.same(await a.next(), { code: 'failed', reason: 'rate limited' })
  // Read and refused at once, the other 54 would be answered within a second; held back, the
  // connection is read about one frame per refill of its budget. (A generous bound: a busy
  // machine only makes the count smaller.)
  await sleep(1000)
  const answered = a.pending().length
  t.ok(answered < 20, `${answered} more refusals within a second of the first (54 were waiting)`)
})

t.test('queued bytes are bounded across all rooms (queueMaxTotalBytes)', async t => {
  const server = await startServer(t, { queueMaxTotalBytes: 1000 })
  const frame = { method: 'NOTIFY', data: 'q'.repeat(400) }
  const lone = await Promise.all(Array.from({ length: 3 }, async () => await join(server.room(freshRoom()))))
  lone[0].send(frame)
  lone[1].send(frame)
  lone[2].send(frame)
  t.same(await lone[2].next(), { code: 'failed', reason: 'queue full' }, 'the third room finds the process full')
  t.equal((await lone[0].get('/peerconnection')).code, 'success', 'the first two were queued, not refused')
  t.equal((await lone[1].get('/peerconnection')).code, 'success')
})

t.test('a small machine is kept alive by default caps on rooms and peers', async t => {
  const { defaults } = await import('../lib/options.js')
  t.equal(defaults.maxPeers, 10_000)
  t.equal(defaults.maxRooms, 10_000)
  t.ok(defaults.queueMaxTotalBytes <= 64 * mib)
})
