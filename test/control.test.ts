// What the app does to its calls through fastify.notify on one instance (memory store): kick,
// closeRoom, send, room and rooms. test/redis/events.test.ts does the same across instances.
import t from 'tap'
import { handshakeStatus, join, until, type TestPeer } from './helpers/client.js'
import { callWithSession, openSession } from './helpers/callers.js'
import { EventLog } from './helpers/events.js'
import { freshRoom, startServer } from './helpers/server.js'
import { memoryStore } from '../lib/index.js'

t.test('kick: 4003 with the app\'s reason, the partner\'s call ends, no resume', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const log = new EventLog().watch(api)
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, server.room(room), server.room(room))
  t.equal(await api.kick(room, sa.peer, 'you were muted for good'), true)
  t.same(await a.closed, { code: 4003, reason: 'you were muted for good' })
  t.same(await b.closed, { code: 1000, reason: 'the other peer left' }, 'the partner is closed as after any leave')
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'the kicked peer cannot resume')
  await log.waitFor('peer:left', room, 2)
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { peerId: sa.peer, reason: 'kicked', closeCode: 4003 },
    { reason: 'call-ended', closeCode: 1000 }
  ])
  t.match(log.named('room:ended', room).map(e => e.payload), [{ reason: 'peer-left' }])
  t.equal(await api.room(room), undefined)
  t.equal(await api.kick(room, sa.peer), false, 'no such room any more')
  const other = freshRoom()
  await join(server.room(other))
  t.equal(await api.kick(other, 'no-such-peer'), false, 'no such peer in the room')
  t.equal(await api.kick(freshRoom(), 'no-such-peer'), false, 'no such room')
})

t.test('kick without a reason uses the documented one', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const [peer] = (await server.app.notify.room(room))!.peers
  t.equal(await server.app.notify.kick(room, peer.peerId), true)
  t.same(await a.closed, { code: 4003, reason: 'removed from the room' })
})

t.test('kick a session peer that is away: its seat goes, it cannot come back', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const log = new EventLog().watch(api)
  const room = freshRoom()
  const a = await join(server.room(room))
  const sa = await openSession(a)
  const b = await join(server.room(room))
  await openSession(b)
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'joined' } })
  a.drop()
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: sa.peer } })
  t.match(await api.room(room), { peers: [{ peerId: sa.peer, state: 'away' }, { state: 'connected' }] })
  t.equal(await api.kick(room, sa.peer, 'gone for good'), true)
  t.same(await b.closed, { code: 1000, reason: 'the other peer left' }, 'its partner\'s call ends, as when its grace runs out')
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'its token is void')
  await log.waitFor('room:ended', room)
  await log.waitFor('peer:left', room, 2)
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { peerId: sa.peer, reason: 'kicked', closeCode: 4003 },
    { reason: 'call-ended', closeCode: 1000 }
  ])
})

t.test('kick in a group room: the others stay in the call and hear that it left', async t => {
  const server = await startServer(t, { roomSize: 3 })
  const api = server.app.notify
  const room = freshRoom()
  const peers = [await join(server.room(room)), await join(server.room(room)), await join(server.room(room))]
  const ids = (await Promise.all(peers.map(openSession))).map(s => s.peer)
  for (const p of peers) while (p.pending().length > 0) await p.next()
  await until(async () => (await api.room(room))?.peers.every(p => p.state === 'connected') === true)
  t.equal(await api.kick(room, ids[1], 'bye'), true)
  t.same(await peers[1].closed, { code: 4003, reason: 'bye' })
  for (const i of [0, 2]) {
    let frame = await peers[i].next()
    while (frame.method === 'PRESENCE' && (frame.data as { state: string }).state === 'joined') frame = await peers[i].next()
    t.same(frame, { method: 'PRESENCE', data: { state: 'left', peer: ids[1] } })
  }
  peers[0].send({ method: 'NOTIFY', data: 'still here' })
  t.same(await peers[2].next(), { from: ids[0], method: 'NOTIFY', data: 'still here' })
  t.same((await api.room(room))?.peers.map(p => p.peerId), [ids[0], ids[2]])
})

t.test('closeRoom: every peer 4004 with the app\'s reason, the room is gone and free at once', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const log = new EventLog().watch(api)
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, server.room(room), server.room(room))
  t.equal(await api.closeRoom(room, 'the meeting was cancelled'), true)
  t.same(await a.closed, { code: 4004, reason: 'the meeting was cancelled' })
  t.same(await b.closed, { code: 4004, reason: 'the meeting was cancelled' })
  t.equal(await api.room(room), undefined)
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'no resume into a closed room')
  await log.waitFor('peer:left', room, 2)
  t.match(log.named('room:ended', room).map(e => e.payload), [{ reason: 'closed', durationMs: Number }])
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { reason: 'room-closed', closeCode: 4004 },
    { reason: 'room-closed', closeCode: 4004 }
  ])
  const again = await join(server.room(room))
  const partner = await join(server.room(room))
  again.send({ method: 'NOTIFY', data: 'a new call' })
  t.same(await partner.next(), { method: 'NOTIFY', data: 'a new call' }, 'the id can be used again at once')
  t.equal(await api.closeRoom(freshRoom()), false, 'no such room')
})

t.test('closeRoom without a reason uses the documented one; an away peer leaves with the room', async t => {
  const server = await startServer(t)
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, server.room(room), server.room(room))
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  t.equal(await server.app.notify.closeRoom(room), true)
  t.same(await b.closed, { code: 4004, reason: 'the room was closed' })
  await log.waitFor('peer:left', room, 2)
  t.match(log.named('peer:left', room).map(e => e.payload).sort((x, y) => x.peerId === sa.peer ? -1 : y.peerId === sa.peer ? 1 : 0), [
    { peerId: sa.peer, reason: 'room-closed' },
    { reason: 'room-closed', closeCode: 4004 }
  ])
})

t.test('send: APP frames to the room or to one peer; false when there is no such room or peer', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  await until(async () => (await api.room(room))?.peers.every(p => p.state === 'connected') === true)
  const [pa, pb] = (await api.room(room))!.peers
  t.equal(await api.send(room, { meeting: 'ends in 5 minutes' }), true)
  t.same(await a.next(), { method: 'APP', data: { meeting: 'ends in 5 minutes' } })
  t.same(await b.next(), { method: 'APP', data: { meeting: 'ends in 5 minutes' } })
  t.equal(await api.send(room, 'just you', { to: pb.peerId }), true)
  t.same(await b.next(), { method: 'APP', data: 'just you' })
  t.equal(await api.send(room, null, { to: pa.peerId }), true)
  t.same(await a.next(), { method: 'APP', data: null })
  t.same(b.pending(), [], 'b got only what was for it')
  t.equal(await api.send(room, 'x', { to: 'no-such-peer' }), false)
  t.equal(await api.send(freshRoom(), 'x'), false)
  await t.rejects(api.send(room, { big: 10n }), TypeError, 'data that is not JSON is refused')
  await t.rejects(api.send(room, () => 'not data'), { code: 'FST_RTC_NOTIFY_BAD_APP_DATA' }, 'nor data JSON would write as nothing')
  a.send({ method: 'NOTIFY', data: 'the call goes on' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'the call goes on' })
})

t.test('send skips a peer that is away', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const log = new EventLog().watch(api)
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, server.room(room), server.room(room))
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  t.equal(await api.send(room, 'while a is away'), true)
  t.equal(await api.send(room, 'for a', { to: sa.peer }), true, 'the peer is found, though away')
  const back = await join(server.room(room, `resume=${sa.token}`))
  await log.waitFor('peer:resumed', room)
  await api.send(room, 'after')
  t.same(await back.next(), { method: 'APP', data: 'after' }, 'nothing was kept for it')
  t.same(await b.next(), { method: 'APP', data: 'while a is away' })
})

t.test('rooms(): 2,000 rooms, each listed once, a few at a time from the live map', async t => {
  // The store is the app's own instance, to count its rooms without the plugin.
  const store = memoryStore()
  const server = await startServer(t, { store })
  const api = server.app.notify
  const count = 2000
  const ids = Array.from({ length: count }, () => freshRoom())
  const peers: TestPeer[] = []
  for (let i = 0; i < count; i += 100) {
    peers.push(...await Promise.all(ids.slice(i, i + 100).map(async id => await join(server.room(id)))))
  }
  t.teardown(() => { for (const p of peers) p.drop() })
  await until(async () => (await api.room(ids[count - 1]))?.peers[0].state === 'connected')
  t.same(store.size().rooms, count)

  const listed = new Map<string, number>()
  const iterator = api.rooms()[Symbol.asyncIterator]()
  const first = await iterator.next()
  t.equal(first.done, false)
  listed.set(first.value.roomId, 1)
  // A room created after the listing began is listed too: rooms() walks the store's map as it
  // is, instead of copying every room into one array first.
  const late = freshRoom()
  peers.push(await join(server.room(late)))
  let withoutItsPeer = 0
  for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
    listed.set(next.value.roomId, (listed.get(next.value.roomId) ?? 0) + 1)
    if (next.value.peers.length !== 1) withoutItsPeer++
  }
  t.equal(withoutItsPeer, 0, 'each with its peer')
  t.equal(listed.size, count + 1)
  t.same([...listed.values()].filter(n => n !== 1), [], 'each once')
  t.same(ids.filter(id => !listed.has(id)), [], 'every room')
  t.ok(listed.has(late), 'the room created meanwhile')
})
