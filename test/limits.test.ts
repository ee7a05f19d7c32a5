// docs/protocol.md#limits: every limit and liveness rule, each with short intervals set through options.
import t from 'tap'
import { handshakeStatus, join, sleep, until } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'

const queueFull = { code: 'failed', reason: 'queue full' }

t.test('the queue holds at most queueMaxMessages; the oldest are kept and delivered in order', async t => {
  const server = await startServer(t, { queueMaxMessages: 3 })
  const room = freshRoom()
  const a = await join(server.room(room))
  for (let i = 0; i < 5; i++) a.send({ method: 'NOTIFY', data: i })
  t.same(await a.next(), queueFull)
  t.same(await a.next(), queueFull)
  const b = await join(server.room(room))
  for (let i = 0; i < 3; i++) t.same(await b.next(), { method: 'NOTIFY', data: i })
  a.send({ method: 'NOTIFY', data: 'live' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'live' }, 'a full queue does not stop live relay')
})

t.test('the queue holds at most queueMaxBytes', async t => {
  const server = await startServer(t, { queueMaxBytes: 100 })
  const room = freshRoom()
  const a = await join(server.room(room))
  const frame = (data: string): string => JSON.stringify({ method: 'NOTIFY', data })
  a.send(frame('x'.repeat(40))) // 67 bytes
  a.send(frame('y'.repeat(40))) // would make 134
  t.same(await a.next(), queueFull)
  a.send(frame('z')) // 28 bytes: fits (95)
  t.equal((await a.get('/peerconnection')).code, 'success')
  const b = await join(server.room(room))
  t.same(await b.next(), { method: 'NOTIFY', data: 'x'.repeat(40) })
  t.same(await b.next(), { method: 'NOTIFY', data: 'z' })
})

t.test('queued messages older than queueMaxAge are dropped and the sender is told', async t => {
  const server = await startServer(t, { queueMaxAge: 0.2 })
  const room = freshRoom()
  const a = await join(server.room(room))
  a.send({ method: 'NOTIFY', data: 'old' })
  t.same(await a.next(), { code: 'failed', reason: 'queued messages expired before the other peer joined' })
  a.send({ method: 'NOTIFY', data: 'new' })
  const b = await join(server.room(room))
  t.same(await b.next(), { method: 'NOTIFY', data: 'new' }, 'only the fresh message is delivered')
  await sleep(300)
  t.same(a.pending(), [], 'a delivered message never expires')
})

t.test('heartbeat: a peer that does not answer pings is terminated, which is a leave', async t => {
  const server = await startServer(t, { heartbeatInterval: 0.1 })
  const room = freshRoom()
  const silent = await join(server.room(room), { autoPong: false })
  const lively = await join(server.room(room))
  t.equal((await lively.closed).code, 1000, 'the partner is closed')
  t.equal((await silent.closed).code, 1006, 'the silent peer is cut off')
  t.equal(await handshakeStatus(server.room(room)), 101, 'the room is free')

  const other = freshRoom()
  const a = await join(server.room(other))
  const b = await join(server.room(other))
  await sleep(600) // several heartbeat rounds
  a.send({ method: 'NOTIFY', data: 'alive' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'alive' }, 'peers that answer pings stay')
})

t.test('rate limit: excess frames are answered failed; a client that keeps flooding is closed 1008', async t => {
  const server = await startServer(t, { messageRate: 0.01, messageBurst: 3 })
  const room = freshRoom()
  const flooder = await join(server.room(room))
  const partner = await join(server.room(room))
  for (let i = 0; i < 10; i++) flooder.send({ method: 'NOTIFY', data: i })
  for (let i = 0; i < 3; i++) t.same(await partner.next(), { method: 'NOTIFY', data: i }, 'the burst passes')
  for (let i = 0; i < 3; i++) t.same(await flooder.next(), { code: 'failed', reason: 'rate limited' })
  t.equal((await flooder.closed).code, 1008)
  t.equal((await partner.closed).code, 1000, 'the flooder left, so its call ended')
  t.same(partner.pending(), [], 'no limited frame reached the partner')
})

t.test('rate limit: the bucket refills at the sustained rate', async t => {
  const server = await startServer(t, { messageRate: 20, messageBurst: 1 })
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  for (let i = 0; i < 5; i++) {
    a.send({ method: 'NOTIFY', data: i })
    t.same(await b.next(), { method: 'NOTIFY', data: i })
    await sleep(100) // two tokens' worth at 20/s
  }
  t.same(a.pending(), [], 'never limited at the sustained rate')
})

t.test('maxRooms and maxPeers refuse new handshakes with 503', async t => {
  const rooms = await startServer(t, { maxRooms: 1 })
  const room = freshRoom()
  await join(rooms.room(room))
  t.equal(await handshakeStatus(rooms.room(freshRoom())), 503, 'a second room')
  t.equal(await handshakeStatus(rooms.room(room)), 101, 'the existing room still takes its second peer')

  const peers = await startServer(t, { maxPeers: 3 })
  const r1 = freshRoom()
  await join(peers.room(r1))
  await join(peers.room(r1))
  await join(peers.room(freshRoom()))
  t.equal(await handshakeStatus(peers.room(freshRoom())), 503)
})

t.test('a failing handler is logged with the room, answered failed, and the server keeps serving', async t => {
  const logs: Array<Record<string, unknown>> = []
  let calls = 0
  const server = await startServer(t, {
    iceServers: async () => {
      if (++calls === 1) throw new Error('ICE backend down')
      return [{ urls: 'stun:ok.example' }]
    }
  }, async app => {
    app.log.error = ((obj: Record<string, unknown>, msg: string) => { logs.push({ ...obj, msg }) }) as typeof app.log.error
  })
  const room = freshRoom()
  const a = await join(server.room(room))
  t.same(await a.get('/peerconnection', 9), { code: 'failed', reason: 'internal error', msg_id: 9 })
  t.same(await a.get('/peerconnection', 10), { msg_id: 10, code: 'success', result: { configuration: { iceServers: [{ urls: 'stun:ok.example' }] } } })
  t.ok(logs.some(l => l.room === room && l.msg === 'failed to handle a frame'), 'logged with the room id')
})

t.test('a protocol error on one connection (invalid UTF-8) closes only that one', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  const other = freshRoom()
  const c = await join(server.room(other))
  const d = await join(server.room(other))
  a.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false })
  t.equal((await a.closed).code, 1007)
  t.equal((await b.closed).code, 1000)
  c.send({ method: 'NOTIFY', data: 'undisturbed' })
  t.same(await d.next(), { method: 'NOTIFY', data: 'undisturbed' })
  await until(() => server.app.notify.stats().peers === 2)
})

t.test('a rate-limited frame\'s answer echoes its msg_id', async t => {
  const server = await startServer(t, { messageRate: 0.01, messageBurst: 3 })
  const a = await join(server.room(freshRoom()))
  for (let i = 0; i < 5; i++) a.send({ method: 'GET', resource: '/peerconnection', msg_id: i })
  for (let i = 0; i < 3; i++) t.match(await a.next(), { msg_id: i, code: 'success' }, 'answers come in the order of the requests')
  t.same(await a.next(), { code: 'failed', reason: 'rate limited', msg_id: 3 })
  t.same(await a.next(), { code: 'failed', reason: 'rate limited', msg_id: 4 })
  a.send('{"method":"GET","msg_id":"not even valid"')
  t.same(await a.next(), { code: 'failed', reason: 'rate limited' }, 'no msg_id to echo when the frame is not JSON')
})
