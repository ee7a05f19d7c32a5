// docs/protocol.md#frames, #relaying-and-queueing, #leaving-and-close-codes: relay, GET, failed answers, leave. Real server, real clients.
import t from 'tap'
import { handshakeStatus, join, sleep, TestPeer, until } from './helpers/client.js'
import { freshRoom, joinPair, startServer } from './helpers/server.js'

t.test('a NOTIFY goes to the other peer unmodified, both ways, in order', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  const values: unknown[] = [{ type: 'offer', sdp: 'v=0\r\n' }, null, 0, '', [1, [2]], { nested: { deep: true } }, 'é✓']
  for (const data of values) a.send({ method: 'NOTIFY', data })
  for (const data of values) t.same(await b.next(), { method: 'NOTIFY', data })
  b.send({ method: 'NOTIFY', data: { type: 'answer' } })
  t.same(await a.next(), { method: 'NOTIFY', data: { type: 'answer' } })
  t.same(a.pending(), [], 'the sender hears nothing back')
})

t.test('the relayed frame is the bytes that were sent', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = new TestPeer(server.room(room))
  const raw: string[] = []
  b.socket.on('message', data => raw.push(data.toString()))
  await b.opened
  const frame = '{ "data" : {"sdp":"a=1\\r\\n"}, "method":"NOTIFY" }'
  a.send(frame)
  await b.next()
  t.same(raw, [frame])
})

t.test('NOTIFYs sent before the other peer joins are queued and delivered in order, first', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  for (let i = 0; i < 20; i++) a.send({ method: 'NOTIFY', data: { i } })
  // A GET answer proves the server has read every frame before B joins.
  t.equal((await a.get('/peerconnection')).code, 'success')
  const b = new TestPeer(server.room(room))
  await b.opened
  a.send({ method: 'NOTIFY', data: 'live' })
  for (let i = 0; i < 20; i++) t.same(await b.next(), { method: 'NOTIFY', data: { i } })
  t.same(await b.next(), { method: 'NOTIFY', data: 'live' }, 'live frames come after the queue')
})

t.test('GET /peerconnection answers the configuration, echoing msg_id', async t => {
  const iceServers = [{ urls: 'stun:stun.example.net:3478' }, { urls: ['turn:turn.example.net'], username: 'u', credential: 'c' }]
  const server = await startServer(t, { iceServers })
  const a = await join(server.room(freshRoom()))
  for (const msgId of [123, 'abc', { x: [1] }, null, 0]) {
    t.same(await a.get('/peerconnection', msgId), { msg_id: msgId, code: 'success', result: { configuration: { iceServers } } })
  }
  a.send({ method: 'GET', resource: '/peerconnection' })
  t.same(await a.next(), { code: 'success', result: { configuration: { iceServers } } }, 'no msg_id, none echoed')
})

t.test('the default configuration is the seed\'s public STUN server', async t => {
  const server = await startServer(t)
  const a = await join(server.room(freshRoom()))
  t.same(await a.get('/peerconnection'), {
    msg_id: 1, code: 'success', result: { configuration: { iceServers: [{ urls: 'stun:stun.l.google.com:19302' }] } }
  })
})

t.test('bad frames are answered failed, stay off the other peer, and leave the connection open', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  const cases: Array<[string, string, unknown?]> = [
    ['not json', 'frame is not valid JSON'],
    ['{"method":"NOTIFY","data":1', 'frame is not valid JSON'],
    ['', 'frame is not valid JSON'],
    ['42', 'frame is not a JSON object'],
    ['null', 'frame is not a JSON object'],
    ['[{"method":"NOTIFY","data":1}]', 'frame is not a JSON object'],
    ['"NOTIFY"', 'frame is not a JSON object'],
    ['{}', 'frame has no method'],
    ['{"data":1}', 'frame has no method'],
    ['{"method":"POST","data":1,"msg_id":7}', 'unknown method', 7],
    ['{"method":"notify","data":1}', 'unknown method'],
    ['{"method":5}', 'unknown method'],
    ['{"method":"NOTIFY"}', 'NOTIFY frame has no data'],
    ['{"method":"NOTIFY","msg_id":"m"}', 'NOTIFY frame has no data', 'm'],
    ['{"method":"GET","msg_id":3}', 'GET frame has no resource', 3],
    ['{"method":"GET","resource":"/other","msg_id":[1]}', 'unknown resource', [1]],
    ['{"method":"GET","resource":5}', 'unknown resource']
  ]
  for (const [frame, reason, msgId] of cases) {
    a.send(frame)
    const expected = msgId === undefined ? { code: 'failed', reason } : { code: 'failed', reason, msg_id: msgId }
    t.same(await a.next(), expected, JSON.stringify(frame))
  }
  a.socket.send(Buffer.from('{"method":"NOTIFY","data":1}'), { binary: true })
  t.same(await a.next(), { code: 'failed', reason: 'binary frames are not accepted' }, 'binary frame')
  a.send({ method: 'NOTIFY', data: 'after' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'after' }, 'the partner saw only the valid frame')
  t.same(b.pending(), [])
})

t.test('extra members: a NOTIFY is relayed with them as received, a GET is answered', async t => {
  const { a, b } = await joinPair(await startServer(t))
  const received = b.texts()
  const frames = ['{"method":"NOTIFY","data":1,"extra":2}', '{"msg_id":7,"method":"NOTIFY","to":"x","data":{"type":"offer"}}',
    '{"method":"NOTIFY","data":1,"__proto__":{"x":1}}']
  for (const frame of frames) a.send(frame)
  t.same(await a.get('/peerconnection', 'marker'), {
    msg_id: 'marker', code: 'success', result: { configuration: { iceServers: [{ urls: 'stun:stun.l.google.com:19302' }] } }
  }, 'no NOTIFY was answered')
  await until(() => received.length === frames.length)
  t.same(received, frames, 'byte for byte')
  a.send('{"method":"GET","resource":"/peerconnection","x":1,"msg_id":null}')
  t.match(await a.next(), { code: 'success', msg_id: null })
})

t.test('a NOTIFY that could be read two ways is written anew; one with the server\'s answer members loses them', async t => {
  const { a, b } = await joinPair(await startServer(t))
  const received = b.texts()
  const cases: Array<[string, string]> = [
    // A parser that keeps the first member would read a PRESENCE from the server.
    ['{"method":"PRESENCE","data":{"state":"back"},"method":"NOTIFY"}', '{"method":"NOTIFY","data":{"state":"back"}}'],
    ['{"method":"NOTIFY","data":1,"data":2}', '{"method":"NOTIFY","data":2}'],
    ['{"\\u006dethod":"PRESENCE","method":"NOTIFY","data":0}', '{"method":"NOTIFY","data":0}'],
    // Read by a client that looks at code and msg_id first, this would be an answer to its GET.
    ['{"method":"NOTIFY","data":null,"code":"success","msg_id":1,"result":{"configuration":{}}}', '{"method":"NOTIFY","data":null,"msg_id":1}'],
    // Not ambiguous, only suspected: written anew all the same, to the same value.
    ['{"method":"NOTIFY","data":{"method":"x"}}', '{"method":"NOTIFY","data":{"method":"x"}}']
  ]
  for (const [sent] of cases) a.send(sent)
  await until(() => received.length === cases.length)
  t.same(received, cases.map(([, relayed]) => relayed))
})

t.test('msg_id is echoed exactly as written, however large or deep', async t => {
  const server = await startServer(t)
  const a = await join(server.room(freshRoom()))
  const texts = a.texts()
  const ids = ['9007199254740993', '1e400', '-0.10', '"\\u00e9"', '{"b":[1, 2],"a":null}', '['.repeat(20000) + ']'.repeat(20000)]
  for (const id of ids) a.send(`{"method":"GET","resource":"/peerconnection","msg_id":${id}}`)
  a.send(`{"method":"FOO","msg_id":${ids[0]}}`)
  await until(() => texts.length === ids.length + 1)
  for (let i = 0; i < ids.length; i++) t.ok(texts[i].startsWith(`{"msg_id":${ids[i]},"code":"success"`), ids[i].slice(0, 20))
  t.equal(texts[ids.length], `{"code":"failed","reason":"unknown method","msg_id":${ids[0]}}`)
})

t.test('a frame over maxPayload is answered failed; one over hardMaxPayload closes the connection with 1009', async t => {
  const { a, b } = await joinPair(await startServer(t, { maxPayload: 1024, hardMaxPayload: 4096 }))
  a.send({ method: 'NOTIFY', data: 'x'.repeat(1024) })
  t.same(await a.next(), { code: 'failed', reason: 'frame is larger than the server relays' })
  a.send({ method: 'NOTIFY', data: 'x'.repeat(900) })
  t.same(await b.next(), { method: 'NOTIFY', data: 'x'.repeat(900) }, 'a frame under the limit passes, the call goes on')
  a.send({ method: 'NOTIFY', data: 'x'.repeat(4096) })
  t.equal((await a.closed).code, 1009)
  // The oversized sender left, so the call ends for its partner as any leave does.
  t.equal((await b.closed).code, 1000)
  t.same(b.pending(), [], 'nothing of the large frames reached the partner')
})

t.test('the hard limit holds even when the app registered @fastify/websocket with a larger one', async t => {
  const websocket = (await import('@fastify/websocket')).default
  const server = await startServer(t, { maxPayload: 1024, hardMaxPayload: 1500 }, async app => { await app.register(websocket) })
  const a = await join(server.room(freshRoom()))
  a.send({ method: 'NOTIFY', data: 'x'.repeat(1200) })
  t.same(await a.next(), { code: 'failed', reason: 'frame is larger than the server relays' })
  a.send({ method: 'NOTIFY', data: 'x'.repeat(2000) })
  t.equal((await a.closed).code, 1009)
})

t.test('leaving closes the other peer with 1000, drops the queue and frees the room at once', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  a.close()
  t.same(await b.closed, { code: 1000, reason: 'the other peer left' })
  t.equal(await handshakeStatus(server.room(room)), 101, 'the id can be used again at once')
  await until(() => server.app.notify.stats().peers === 0)
  t.same(server.app.notify.stats(), { rooms: 0, peers: 0 })

  // A peer alone that queued and left: its queue does not reach the next pair.
  const c = await join(server.room(room))
  c.send({ method: 'NOTIFY', data: 'stale' })
  t.equal((await c.get('/peerconnection')).code, 'success')
  c.close()
  await c.closed
  await sleep(50)
  const d = await join(server.room(room))
  const e = await join(server.room(room))
  e.send({ method: 'NOTIFY', data: 'fresh' })
  t.same(await d.next(), { method: 'NOTIFY', data: 'fresh' }, 'the reused room starts empty')
})

t.test('a peer that vanishes without a close frame also ends the call', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  a.drop()
  t.equal((await b.closed).code, 1000)
  t.equal(await handshakeStatus(server.room(room)), 101, 'the room is free again')
})

t.test('fastify.close() closes every peer with 1001', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const peers = [await join(server.room(room)), await join(server.room(room)), await join(server.room(freshRoom()))]
  await server.app.close()
  for (const peer of peers) t.equal((await peer.closed).code, 1001)
})
