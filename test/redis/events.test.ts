// fastify.notify across two instances sharing a Redis: two Fastify apps in this process, each
// with its own redisStore on one real redis-server, peers split across them. Each event fires
// once overall, on the instance where it happened; the controls reach peers on the other one.
import { Redis } from 'ioredis'
import t from 'tap'
import { handshakeStatus, join, sleep, until, type TestPeer } from '../helpers/client.js'
import { authorizeByQuery, callWithSession, openSession, people } from '../helpers/callers.js'
import { EventLog } from '../helpers/events.js'
import { freshRoom, startServer, type TestServer } from '../helpers/server.js'
import type { NotifyEventName, NotifyOptions, PeerListing, RoomInfo } from '../../lib/index.js'
import { redisStore } from '../../lib/redis.js'
import { RedisServer } from './redis-server.js'

const redis = await RedisServer.start(t)

/** Two apps on the Redis (A and B), under their own key prefix, and a log of both apps' events. */
async function twoInstances (options: NotifyOptions = {}, prefix = `events-${freshRoom()}:`): Promise<{ A: TestServer, B: TestServer, log: EventLog }> {
  const start = async (): Promise<TestServer> => await startServer(t, { authorize: authorizeByQuery, ...options, store: redisStore({ url: redis.url, prefix }) })
  const [A, B] = [await start(), await start()]
  const log = new EventLog().watch(A.app.notify, 'A').watch(B.app.notify, 'B')
  return { A, B, log }
}

/** A room's peers by peer id (the Redis store lists them in no particular order). */
function byPeer (room: RoomInfo | undefined): Record<string, PeerListing> {
  return Object.fromEntries((room?.peers ?? []).map(p => [p.peerId, p]))
}

/** How many times each event fired about `room`, on either instance. */
function counts (log: EventLog, room: string): Partial<Record<NotifyEventName, number>> {
  const n: Partial<Record<NotifyEventName, number>> = {}
  for (const name of log.story(room)) {
    const event = name.split('@')[0] as NotifyEventName
    n[event] = (n[event] ?? 0) + 1
  }
  return n
}

t.test('the story of a call split across instances: each event once, where it happened', async t => {
  const { A, B, log } = await twoInstances({ resumeGrace: 10 })
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const sa = await openSession(a)
  await log.waitFor('peer:joined', room)
  a.send('{"method":"NOTIFY","data":"before b"}')
  await log.waitFor('message:relayed', room, 1)
  const b = await join(B.room(room, 'user=bob'))
  t.same(await b.next(), { method: 'NOTIFY', data: 'before b' })
  await log.waitFor('peer:joined', room, 2)
  await openSession(b)
  t.same(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer } })
  a.send('{"method":"NOTIFY","data":"live"}')
  t.same(await b.next(), { method: 'NOTIFY', data: 'live' })
  await log.waitFor('message:relayed', room, 2)
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  t.same(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: sa.peer } })
  b.send('{"method":"NOTIFY","data":"while a is away"}')
  await log.waitFor('message:relayed', room, 3)
  // a comes back through the other instance.
  const back = await join(B.room(room, `user=ada&resume=${sa.token}`))
  t.same(await back.next(), { method: 'NOTIFY', data: 'while a is away' })
  await log.waitFor('peer:resumed', room)
  b.send('{"method":"NOTIFY","data":"welcome back"}')
  t.same(await back.next(), { method: 'NOTIFY', data: 'welcome back' })
  await log.waitFor('message:relayed', room, 4)
  back.close(1000)
  t.same(await b.closed, { code: 1000, reason: 'the other peer left' })
  await log.waitFor('peer:left', room, 2)

  t.same(log.story(room), [
    'room:created@A', 'peer:joined@A', 'message:relayed@A', 'peer:joined@B', 'message:relayed@A',
    'peer:reconnecting@A', 'message:relayed@B', 'peer:resumed@B', 'message:relayed@B',
    'peer:left@B', 'room:ended@B', 'peer:left@B'
  ])
  t.match(log.named('message:relayed', room).map(e => e.payload), [
    { peerId: sa.peer, identity: people.ada, outcome: 'queued' },
    { peerId: sa.peer, identity: people.ada, outcome: 'delivered' },
    { identity: people.bob, outcome: 'queued' },
    { identity: people.bob, outcome: 'delivered', bytes: Buffer.byteLength('{"method":"NOTIFY","data":"welcome back"}') }
  ])
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { peerId: sa.peer, identity: people.ada, reason: 'hung-up', closeCode: 1000 },
    { identity: people.bob, reason: 'call-ended', closeCode: 1000 }
  ])
  const created = log.named('room:created', room)[0].payload
  const ended = log.named('room:ended', room)[0].payload
  t.match(ended, { reason: 'peer-left' })
  t.equal(ended.createdAt, created.at, 'created when room:created says')
  t.equal(ended.durationMs, ended.at - ended.createdAt)
})

t.test('a peer that resumed at the other instance is not reported as having left when its old grace runs out', async t => {
  const { A, B, log } = await twoInstances({ resumeGrace: 0.5 })
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, A.room(room, 'user=ada'), B.room(room, 'user=bob'))
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  const back = await join(B.room(room, `user=ada&resume=${sa.token}`))
  await log.waitFor('peer:resumed', room)
  // Well past the grace period of the connection that dropped at A.
  await sleep(1000)
  back.send({ method: 'NOTIFY', data: 'still in the call' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'still in the call' })
  t.same(log.named('peer:left', room).map(e => `${e.payload.reason}@${e.instance}`), [], 'nobody left')
})

for (const leaver of ['A', 'B'] as const) {
  t.test(`room:ended fires once, on the instance whose peer's leave ended the call (${leaver})`, async t => {
    const { A, B, log } = await twoInstances()
    const room = freshRoom()
    const a = await join(A.room(room, 'user=ada'))
    const b = await join(B.room(room, 'user=bob'))
    await log.waitFor('peer:joined', room, 2)
    const [gone, stays] = leaver === 'A' ? [a, b] : [b, a]
    gone.close(1000)
    t.equal((await stays.closed).code, 1000)
    await log.waitFor('peer:left', room, 2)
    await log.waitFor('room:ended', room)
    const other = leaver === 'A' ? 'B' : 'A'
    t.same(log.story(room).slice(3), [`peer:left@${leaver}`, `room:ended@${leaver}`, `peer:left@${other}`])
    t.match(log.named('peer:left', room).map(e => e.payload), [{ reason: 'hung-up' }, { reason: 'call-ended' }])
    t.same(counts(log, room), { 'room:created': 1, 'peer:joined': 2, 'peer:left': 2, 'room:ended': 1 })
  })
}

t.test('a group room across instances ends once, with its last peer, where that peer was', async t => {
  const { A, B, log } = await twoInstances({ roomSize: 3 })
  const room = freshRoom()
  const p1 = await join(A.room(room, 'user=ada'))
  const p2 = await join(B.room(room, 'user=bob'))
  const p3 = await join(A.room(room, 'user=cy'))
  await log.waitFor('peer:joined', room, 3)
  p1.close(1000)
  await log.waitFor('peer:left', room, 1)
  p3.close(1000)
  await log.waitFor('peer:left', room, 2)
  p2.close(1000)
  await log.waitFor('room:ended', room)
  await log.waitFor('peer:left', room, 3)
  t.same(log.story(room), [
    'room:created@A', 'peer:joined@A', 'peer:joined@B', 'peer:joined@A',
    'peer:left@A', 'peer:left@A', 'peer:left@B', 'room:ended@B'
  ])
  t.match(log.named('room:ended', room)[0].payload, { reason: 'last-peer-left' })
})

t.test('identity across instances: in listings from either, never to the other peer, checked at a resume', async t => {
  const { A, B, log } = await twoInstances()
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const sa = await openSession(a)
  const b = await join(B.room(room, 'user=bob'))
  const atB = b.texts()
  const sb = await openSession(b)
  await log.waitFor('peer:joined', room, 2)
  for (const server of [A, B]) {
    t.match(byPeer(await server.app.notify.room(room)), {
      [sa.peer]: { identity: people.ada, state: 'connected' },
      [sb.peer]: { identity: people.bob, state: 'connected' }
    })
  }
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  t.match(byPeer(await B.app.notify.room(room)), { [sa.peer]: { identity: people.ada, state: 'away' }, [sb.peer]: { state: 'connected' } })
  t.equal(await handshakeStatus(B.room(room, `user=cy&resume=${sa.token}`)), 403, 'another identity cannot take the seat, at another instance')
  t.match(log.named('handshake:refused', room).map(e => `${e.payload.statusCode}@${e.instance}`), ['403@B'])
  const back = await join(B.room(room, `user=ada&resume=${sa.token}`))
  back.send({ method: 'NOTIFY', data: 'me again' })
  await until(() => atB.some(text => text.includes('me again')))
  t.ok(atB.some(text => text.includes('"back"')), 'b heard a come back')
  t.same(atB.filter(text => text.includes('Ada') || text.includes('u-ada') || text.includes('identity')), [],
    'nothing b received names a')
})

t.test('shareIdentity across instances: PRESENCE names the peer on the other instance', async t => {
  const { A, B } = await twoInstances({ shareIdentity: true })
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const sa = await openSession(a)
  const b = await join(B.room(room, 'user=bob'))
  await openSession(b)
  t.same(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer, identity: people.ada } })
  t.match(await a.next(), { method: 'PRESENCE', data: { state: 'joined', identity: people.bob } })
})

t.test('kick from the other instance: 4003, the partner\'s call ends, no resume anywhere', async t => {
  const { A, B, log } = await twoInstances()
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const b = await join(B.room(room, 'user=bob'))
  const sb = await openSession(b)
  await log.waitFor('peer:joined', room, 2)
  t.equal(await A.app.notify.kick(room, sb.peer, 'not invited'), true)
  t.same(await b.closed, { code: 4003, reason: 'not invited' })
  t.same(await a.closed, { code: 1000, reason: 'the other peer left' })
  for (const server of [A, B]) t.equal(await handshakeStatus(server.room(room, `user=bob&resume=${sb.token}`)), 400, 'its token is void')
  await log.waitFor('peer:left', room, 2)
  await log.waitFor('room:ended', room)
  t.same(log.story(room).filter(name => !name.startsWith('handshake:')).slice(3), ['peer:left@B', 'room:ended@B', 'peer:left@A'],
    'the kicked peer\'s leave is told where it was connected')
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { peerId: sb.peer, identity: people.bob, reason: 'kicked', closeCode: 4003 },
    { identity: people.ada, reason: 'call-ended' }
  ])
  t.equal(await A.app.notify.kick(room, sb.peer), false, 'no such room any more')
  const other = freshRoom()
  await join(B.room(other, 'user=cy'))
  t.equal(await A.app.notify.kick(other, 'no-such-peer'), false, 'no such peer')
  t.equal(await A.app.notify.kick(freshRoom(), 'no-such-peer'), false, 'no such room')
})

// The kick script answers ['away', token, seat JSON, ...the room's end] for a seat without a
// connection.

t.test('kick a session peer that is away, from the other instance: no resume', async t => {
  const { A, B, log } = await twoInstances()
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, A.room(room, 'user=ada'), B.room(room, 'user=bob'))
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  const kicked = await B.app.notify.kick(room, sa.peer).catch((err: Error) => err.message)
  t.equal(kicked, true, 'kick() finds the seat')
  t.equal((await b.closed).code, 1000, 'its partner\'s call ends')
  for (const server of [A, B]) t.equal(await handshakeStatus(server.room(room, `user=ada&resume=${sa.token}`)), 400, 'its token is void')
  t.equal(await A.app.notify.room(room), undefined, 'the room is gone')
  await log.waitFor('peer:left', room, 1)
  await until(() => log.named('peer:left', room).length >= 2 || kicked !== true)
  t.same(log.story(room).filter(name => !name.startsWith('handshake:')).slice(4), ['peer:left@B', 'room:ended@B', 'peer:left@B'],
    'the kick is reported where it was made')
  t.match(log.named('peer:left', room).map(e => [e.payload.peerId === sa.peer ? 'a' : 'b', e.payload.reason]),
    [['a', 'kicked'], ['b', 'call-ended']], 'each leave once')
})

t.test('kick a peer that is away in a group room, from the other instance: the others go on', async t => {
  const { A, B, log } = await twoInstances({ roomSize: 3 })
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const sa = await openSession(a)
  const b = await join(B.room(room, 'user=bob'))
  const c = await join(A.room(room, 'user=cy'))
  await log.waitFor('peer:joined', room, 3)
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  const kicked = await B.app.notify.kick(room, sa.peer).catch((err: Error) => err.message)
  t.equal(kicked, true, 'kick() finds the seat')
  for (const server of [A, B]) t.equal(await handshakeStatus(server.room(room, `user=ada&resume=${sa.token}`)), 400, 'its token is void')
  t.same(Object.keys(byPeer(await A.app.notify.room(room))).length, 2, 'the seat is gone')
  b.send({ method: 'NOTIFY', data: 'still here' })
  let frame = await c.next()
  while (frame.method !== 'NOTIFY') frame = await c.next()
  t.match(frame, { method: 'NOTIFY', data: 'still here' })
  t.match(log.named('peer:left', room).map(e => [e.payload.peerId === sa.peer ? 'a' : '?', e.payload.reason, e.instance]),
    [['a', 'kicked', 'B']], 'its leave is reported')
})

t.test('closeRoom from the other instance: every peer 4004, one room:ended where it was called', async t => {
  const { A, B, log } = await twoInstances()
  const room = freshRoom()
  const a = await join(B.room(room, 'user=ada'))
  const b = await join(B.room(room, 'user=bob'))
  await log.waitFor('peer:joined', room, 2)
  t.equal(await A.app.notify.closeRoom(room, 'meeting cancelled'), true)
  t.same(await a.closed, { code: 4004, reason: 'meeting cancelled' })
  t.same(await b.closed, { code: 4004, reason: 'meeting cancelled' })
  await log.waitFor('peer:left', room, 2)
  t.same(log.story(room).slice(3), ['room:ended@A', 'peer:left@B', 'peer:left@B'])
  t.match(log.named('room:ended', room)[0].payload, { reason: 'closed' })
  t.equal(await A.app.notify.room(room), undefined)
  t.equal(await B.app.notify.closeRoom(room), false, 'no such room any more')
  const again = await join(A.room(room, 'user=cy'))
  const partner = await join(B.room(room, 'user=ada'))
  again.send({ method: 'NOTIFY', data: 'new call' })
  t.same(await partner.next(), { method: 'NOTIFY', data: 'new call' }, 'the id is free at once')
})

t.test('send from the other instance: APP frames to peers wherever they are', async t => {
  const { A, B, log } = await twoInstances()
  const room = freshRoom()
  const a = await join(A.room(room, 'user=ada'))
  const b = await join(B.room(room, 'user=bob'))
  await log.waitFor('peer:joined', room, 2)
  const peers = (await A.app.notify.room(room))!.peers
  const pa = peers.find(p => p.identity !== undefined && (p.identity as { name: string }).name === people.ada.name)!
  const pb = peers.find(p => p.identity !== undefined && (p.identity as { name: string }).name === people.bob.name)!
  t.equal(await A.app.notify.send(room, { notice: 'recording' }), true)
  t.same(await a.next(), { method: 'APP', data: { notice: 'recording' } })
  t.same(await b.next(), { method: 'APP', data: { notice: 'recording' } })
  t.equal(await A.app.notify.send(room, 'for b', { to: pb.peerId }), true)
  t.same(await b.next(), { method: 'APP', data: 'for b' })
  t.equal(await B.app.notify.send(room, 'for a', { to: pa.peerId }), true)
  t.same(await a.next(), { method: 'APP', data: 'for a' })
  t.same([a.pending(), b.pending()], [[], []])
  t.equal(await A.app.notify.send(room, 'x', { to: 'no-such-peer' }), false)
  t.equal(await B.app.notify.send(freshRoom(), 'x'), false)
})

/** The SCAN commands Redis has answered so far. */
async function scans (admin: Redis): Promise<number> {
  const stats = await admin.info('commandstats')
  return Number(/cmdstat_scan:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

t.test('rooms(): 2,000 rooms on two instances, each listed once from either, SCANned a batch at a time', async t => {
  const { A, B } = await twoInstances({ authorize: () => true })
  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  const count = 2000
  const ids = Array.from({ length: count }, () => freshRoom())
  const peers: TestPeer[] = []
  t.teardown(() => { for (const p of peers) p.drop() })
  for (let i = 0; i < count; i += 100) {
    peers.push(...await Promise.all(ids.slice(i, i + 100).map(async (id, j) => await join((j % 2 === 0 ? A : B).room(id)))))
  }
  await until(async () => (await B.app.notify.room(ids[count - 1]))?.peers[0].state === 'connected')
  for (const server of [A, B]) {
    const before = await scans(admin)
    const iterator = server.app.notify.rooms()[Symbol.asyncIterator]()
    const listed = new Map<string, number>()
    const first = await iterator.next()
    t.equal(first.done, false)
    t.equal(await scans(admin) - before, 1, 'the first room came from the first SCAN: nothing fetched ahead')
    listed.set(first.value.roomId, 1)
    let withoutItsPeer = 0
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
      listed.set(next.value.roomId, (listed.get(next.value.roomId) ?? 0) + 1)
      if (next.value.peers.length !== 1 || next.value.peers[0].state !== 'connected') withoutItsPeer++
    }
    t.same(ids.filter(id => !listed.has(id)), [], 'every room')
    t.equal(listed.size, count, 'and no other')
    t.same([...listed.values()].filter(n => n !== 1), [], 'each once')
    t.equal(withoutItsPeer, 0, 'each with its connected peer')
    t.ok(await scans(admin) - before >= count / 100, 'a batch of SCAN at a time')
  }
})
