// docs/protocol.md#group-rooms: rooms of N, on one server. Real server, real clients.
import t from 'tap'
import { handshakeStatus, join, TestPeer, until, type Message } from './helpers/client.js'
import { freshRoom, startServer, type TestServer } from './helpers/server.js'

/** A peer of a group room, with the id its ROOM frame gave it. */
interface Member { peer: TestPeer, id: string, room: Message }

async function member (server: TestServer, room: string): Promise<Member> {
  const peer = await join(server.room(room))
  const welcome = await peer.next()
  if (welcome.method !== 'ROOM') throw new Error(`expected ROOM first, got ${JSON.stringify(welcome)}`)
  return { peer, id: (welcome.data as { peer: string }).peer, room: welcome }
}

t.test('a joining peer learns who it is and who is there; the others learn it joined, then left', async t => {
  const server = await startServer(t, { roomSize: 4 })
  const room = freshRoom()
  const a = await member(server, room)
  t.same(a.room.data, { peer: a.id, size: 4, peers: [] })
  const b = await member(server, room)
  t.same(b.room.data, { peer: b.id, size: 4, peers: [{ peer: a.id }] })
  t.same(await a.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: b.id } })
  const c = await member(server, room)
  t.same((c.room.data as { peers: unknown[] }).peers, [{ peer: a.id }, { peer: b.id }])
  t.same(await a.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: c.id } })
  t.same(await b.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: c.id } })
  b.peer.close()
  t.same(await a.peer.next(), { method: 'PRESENCE', data: { state: 'left', peer: b.id } }, 'one leaving does not end the call')
  t.same(await c.peer.next(), { method: 'PRESENCE', data: { state: 'left', peer: b.id } })
  a.peer.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await c.peer.next(), { from: a.id, method: 'NOTIFY', data: 'still here' })
})

t.test('NOTIFY goes to every other peer, or to the one named by `to`; each says who sent it', async t => {
  const server = await startServer(t, { roomSize: 3 })
  const room = freshRoom()
  const a = await member(server, room)
  const b = await member(server, room)
  const c = await member(server, room)
  await a.peer.next()
  await a.peer.next()
  await b.peer.next()
  const atB = b.peer.texts()
  a.peer.send('{"method":"NOTIFY","data":{"sdp":"x"}}')
  t.same(await b.peer.next(), { from: a.id, method: 'NOTIFY', data: { sdp: 'x' } })
  t.same(await c.peer.next(), { from: a.id, method: 'NOTIFY', data: { sdp: 'x' } })
  t.same(atB, [`{"from":"${a.id}","method":"NOTIFY","data":{"sdp":"x"}}`], 'written once: from first, then the sender\'s bytes')
  a.peer.send({ method: 'NOTIFY', to: c.id, data: 'only c' })
  t.same(await c.peer.next(), { from: a.id, method: 'NOTIFY', to: c.id, data: 'only c' })
  c.peer.send({ method: 'NOTIFY', from: 'mallory', data: 'spoofed?' })
  t.same(await a.peer.next(), { from: c.id, method: 'NOTIFY', data: 'spoofed?' }, 'a `from` of the sender\'s is replaced')
  a.peer.send({ method: 'NOTIFY', to: 'nobody', data: 1, msg_id: 5 })
  t.same(await a.peer.next(), { code: 'failed', reason: 'no such peer in the room', msg_id: 5 })
  a.peer.send({ method: 'NOTIFY', to: 7, data: 1 })
  t.same(await a.peer.next(), { code: 'failed', reason: 'no such peer in the room' })
  await b.peer.get('/peerconnection')
  t.same(b.peer.pending(), [], 'b got nothing addressed to c')
})

t.test('frames sent by a peer alone wait for the next peer to join', async t => {
  const server = await startServer(t, { roomSize: 4 })
  const room = freshRoom()
  const a = await member(server, room)
  a.peer.send({ method: 'NOTIFY', data: 'first' })
  a.peer.send({ method: 'NOTIFY', data: 'second' })
  t.equal((await a.peer.get('/peerconnection')).code, 'success', 'queued, not refused')
  const b = await member(server, room)
  t.same(await b.peer.next(), { from: a.id, method: 'NOTIFY', data: 'first' }, 'after ROOM, the queued frames')
  t.same(await b.peer.next(), { from: a.id, method: 'NOTIFY', data: 'second' })
  const c = await member(server, room)
  await c.peer.get('/peerconnection')
  t.same(c.peer.pending(), [], 'the next one after that does not get them again')
})

t.test('frames for a peer that is away (resume grace) wait for it', async t => {
  const server = await startServer(t, { roomSize: 3 })
  const room = freshRoom()
  const a = await member(server, room)
  const b = await member(server, room)
  await a.peer.next()
  const session = (await b.peer.get('/session')).result as { token: string }
  b.peer.drop()
  t.same(await a.peer.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: b.id } })
  a.peer.send({ method: 'NOTIFY', to: b.id, data: 'for b, later' })
  a.peer.send({ method: 'NOTIFY', data: 'for all' })
  t.equal((await a.peer.get('/peerconnection')).code, 'success')
  const back = await join(server.room(room, `resume=${session.token}`))
  t.match(await back.next(), { method: 'ROOM', data: { peer: b.id, peers: [{ peer: a.id }] } })
  t.same(await back.next(), { from: a.id, method: 'NOTIFY', to: b.id, data: 'for b, later' })
  t.same(await back.next(), { from: a.id, method: 'NOTIFY', data: 'for all' })
  t.same(await a.peer.next(), { method: 'PRESENCE', data: { state: 'back', peer: b.id } })
})

t.test('the room ends with its last peer; the N+1th gets 400', async t => {
  const server = await startServer(t, { roomSize: 3 })
  const room = freshRoom()
  const members = [await member(server, room), await member(server, room), await member(server, room)]
  t.equal(await handshakeStatus(server.room(room)), 400)
  members[0].peer.close()
  await until(() => server.app.notify.stats().peers === 2)
  t.equal(await handshakeStatus(server.room(room)), 101, 'a seat is free again')
  members[1].peer.close()
  members[2].peer.close()
  await until(() => server.app.notify.stats().rooms === 0)
  t.equal(await server.app.notify.room(room), undefined)
})

t.test('2N simultaneous joins leave exactly N seated', async t => {
  const server = await startServer(t, { roomSize: 5 })
  for (let round = 0; round < 3; round++) {
    const room = freshRoom()
    const statuses = await Promise.all(Array.from({ length: 10 }, async () => await handshakeStatusKeepingOpen(server.room(room))))
    t.equal(statuses.filter(s => s === 101).length, 5, `round ${round}`)
    t.equal(statuses.filter(s => s === 400).length, 5)
  }
})

t.test('roomSize may be chosen per room when it is created', async t => {
  const server = await startServer(t, { roomSize: (_request, roomId) => roomId.startsWith('big-') ? 6 : 2 })
  const small = freshRoom()
  await join(server.room(small))
  await join(server.room(small))
  t.equal(await handshakeStatus(server.room(small)), 400, 'a room of two')
  const big = `big-${freshRoom()}`
  const first = await member(server, big)
  t.equal((first.room.data as { size: number }).size, 6)
  const bad = await startServer(t, { roomSize: () => 40 })
  t.equal(await handshakeStatus(bad.room(freshRoom())), 500, 'a size out of bounds is the app\'s error')
})

t.test('a two-party room is unchanged: no ROOM, no from, NOTIFY relayed as sent', async t => {
  const server = await startServer(t, { roomSize: 2 })
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  const texts = b.texts()
  a.send('{"method":"NOTIFY","data":1,"to":"whoever"}')
  await b.next()
  t.same(texts, ['{"method":"NOTIFY","data":1,"to":"whoever"}'])
  t.same(a.pending(), [])
})

// A handshake whose socket stays open (so that its seat stays taken) when it succeeds.
const opened: TestPeer[] = []
t.teardown(() => { for (const peer of opened) peer.drop() })
async function handshakeStatusKeepingOpen (url: string): Promise<number> {
  const peer = new TestPeer(url)
  try {
    await peer.opened
    opened.push(peer)
    return 101
  } catch (err) {
    return Number(/HTTP (\d+)/.exec((err as Error).message)?.[1])
  }
}
