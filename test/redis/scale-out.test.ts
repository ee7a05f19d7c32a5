// Two instances of the standalone server, separate processes sharing one Redis: a client that
// joins peers through different instances cannot tell there is more than one.
import t from 'tap'
import { handshakeStatus, join, TestPeer } from '../helpers/client.js'
import { closedWithin, freshRoom, openSession, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const redis = await RedisServer.start(t)
const flags = ['--queue-max-messages', '5', '--queue-max-bytes', '4096', '--resume-grace', '10']
// c is quicker to forget: its grace and its queue's age limit are 1 s.
const [a, b, c] = await Promise.all([
  startInstance(t, redis.url, flags),
  startInstance(t, redis.url, flags),
  startInstance(t, redis.url, [...flags, '--resume-grace', '1', '--queue-max-age', '1'])
])

/**
 * Two peers of a fresh room, the first through instance a, the second through b, both bound to
 * their seats. (Right after its handshake, a peer's seat may still be reserved for a moment:
 * frames for it wait in the queue meanwhile. A frame it sent that reached its partner was
 * relayed after its seat was bound.)
 */
async function splitPair (): Promise<{ room: string, pa: TestPeer, pb: TestPeer }> {
  const room = freshRoom()
  const pa = await join(roomAt(a, room))
  const pb = await join(roomAt(b, room))
  pb.send({ method: 'NOTIFY', data: 'hello' })
  if (JSON.stringify(await pa.next()) !== '{"method":"NOTIFY","data":"hello"}') throw new Error('no hello')
  return { room, pa, pb }
}

t.test('relay both ways across instances: in order, none lost', async t => {
  const { pa, pb } = await splitPair()
  const count = 150 // within the rate limit's burst
  for (let i = 0; i < count; i++) {
    pa.send({ method: 'NOTIFY', data: { from: 'a', i } })
    pb.send({ method: 'NOTIFY', data: { from: 'b', i } })
  }
  const atB = []
  const atA = []
  for (let i = 0; i < count; i++) atB.push(await pb.next())
  for (let i = 0; i < count; i++) atA.push(await pa.next())
  t.same(atB, Array.from({ length: count }, (_, i) => ({ method: 'NOTIFY', data: { from: 'a', i } })))
  t.same(atA, Array.from({ length: count }, (_, i) => ({ method: 'NOTIFY', data: { from: 'b', i } })))
})

t.test('frames for an absent peer are queued and delivered first when it joins at the other instance', async t => {
  const room = freshRoom()
  const pa = await join(roomAt(a, room))
  for (let i = 0; i < 5; i++) pa.send({ method: 'NOTIFY', data: i })
  pa.send({ method: 'NOTIFY', data: 'one too many' })
  t.same(await pa.next(), { code: 'failed', reason: 'queue full' }, 'the cap holds across instances (--queue-max-messages 5)')
  const pb = await join(roomAt(b, room))
  for (let i = 0; i < 5; i++) t.same(await pb.next(), { method: 'NOTIFY', data: i }, `queued ${i}`)
  pa.send({ method: 'NOTIFY', data: 'live' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'live' }, 'then live frames')
})

t.test('the byte cap holds across instances', async t => {
  const room = freshRoom()
  const pa = await join(roomAt(b, room))
  const big = 'x'.repeat(1500)
  pa.send({ method: 'NOTIFY', data: big })
  pa.send({ method: 'NOTIFY', data: big })
  pa.send({ method: 'NOTIFY', data: big })
  t.same(await pa.next(), { code: 'failed', reason: 'queue full' }, 'the third frame would pass 4096 bytes')
  const pb = await join(roomAt(a, room))
  t.same(await pb.next(), { method: 'NOTIFY', data: big })
  t.same(await pb.next(), { method: 'NOTIFY', data: big })
})

t.test('queued frames expire at the age limit, and the peer joining at another instance never gets them', async t => {
  const room = freshRoom()
  const pa = await join(roomAt(c, room))
  pa.send({ method: 'NOTIFY', data: 'stale' })
  t.same(await pa.next(5000), { code: 'failed', reason: 'queued messages expired before the other peer joined' })
  const pb = await join(roomAt(a, room))
  pb.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await pa.next(), { method: 'NOTIFY', data: 'hello' })
  pa.send({ method: 'NOTIFY', data: 'fresh' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'fresh' }, 'the expired frame was never delivered')
})

t.test('racing joins split across instances never put three in a room', async t => {
  for (let round = 0; round < 10; round++) {
    const room = freshRoom()
    // The winners stay connected, so no seat comes free during the race.
    const peers = Array.from({ length: 6 }, (_, i) => new TestPeer(roomAt(i % 2 === 0 ? a : b, room)))
    const outcomes = await Promise.all(peers.map(peer => peer.opened.then(() => 'joined', (err: Error) => err.message)))
    t.same(outcomes.sort(), ['HTTP 400', 'HTTP 400', 'HTTP 400', 'HTTP 400', 'joined', 'joined'], `round ${round}`)
    for (const peer of peers) peer.close()
  }
})

t.test('a leave closes the partner on the other instance and frees the room', async t => {
  const { room, pa, pb } = await splitPair()
  pa.send({ method: 'NOTIFY', data: 'bye' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'bye' })
  pa.close()
  t.equal((await closedWithin(pb, 5000)).code, 1000)
  // The script that ended the partner deleted the room: it is free at every instance.
  const again1 = await join(roomAt(b, room))
  const again2 = await join(roomAt(a, room))
  again2.send({ method: 'NOTIFY', data: 'new call' })
  t.same(await again1.next(), { method: 'NOTIFY', data: 'new call' })
  t.same(again1.pending(), [], 'nothing left over from the old call')
})

t.test('resume across instances: drop at a, resume at b', async t => {
  const { room, pa, pb } = await splitPair()
  const session = await openSession(pa)
  await openSession(pb)
  t.match(await pb.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } }, 'pb hears pa is there')
  pa.drop()
  t.match(await pb.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
  for (let i = 0; i < 3; i++) pb.send({ method: 'NOTIFY', data: { away: i } })
  t.equal(await handshakeStatus(roomAt(a, room)), 400, 'the seat is held at every instance')
  const back = await join(roomAt(b, room, `resume=${session.token}`))
  for (let i = 0; i < 3; i++) t.same(await back.next(), { method: 'NOTIFY', data: { away: i } })
  t.match(await pb.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
  back.send({ method: 'NOTIFY', data: 'from the resumed peer' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'from the resumed peer' })
  pb.send({ method: 'NOTIFY', data: 'to the resumed peer' })
  t.same(await back.next(), { method: 'NOTIFY', data: 'to the resumed peer' })
  const again = await openSession(back)
  t.same({ ...again, token: session.token }, session, 'the session carries on')
  t.not(again.token, session.token, 'under a fresh token')
  t.equal(await handshakeStatus(roomAt(a, room, `resume=${session.token}`)), 400, 'the used token is refused at either instance')
})

t.test('a resume at the other instance takes over a connection still open: 4001', async t => {
  const { room, pa, pb } = await splitPair()
  const session = await openSession(pa)
  const fresh = await join(roomAt(b, room, `resume=${session.token}`))
  t.same(await closedWithin(pa, 5000), { code: 4001, reason: 'replaced' })
  fresh.send({ method: 'NOTIFY', data: 'new socket' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'new socket' })
  t.same(pb.pending(), [], 'the partner saw no presence change')
})

t.test('bad tokens are refused at any instance', async t => {
  const { pa } = await splitPair()
  const session = await openSession(pa)
  t.equal(await handshakeStatus(roomAt(b, freshRoom(), `resume=${session.token}`)), 400, 'wrong room')
  t.equal(await handshakeStatus(roomAt(b, freshRoom(), 'resume=nonsense')), 400, 'unknown')
})

t.test('grace running out at one instance ends the call at the other', async t => {
  const room = freshRoom()
  const pa = await join(roomAt(c, room))
  const pb = await join(roomAt(a, room))
  const session = await openSession(pa)
  await openSession(pb)
  t.match(await pb.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
  pa.drop()
  t.match(await pb.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
  t.equal((await closedWithin(pb, 10_000)).code, 1000, 'closed when the 1 s grace ends')
  t.equal(await handshakeStatus(roomAt(b, room, `resume=${session.token}`)), 400, 'the token died with the session')
})

t.test('what was queued for a joiner reaches it before the answers to its own first frames', async t => {
  for (let round = 0; round < 10; round++) {
    const room = freshRoom()
    const pa = await join(roomAt(a, room))
    pa.send({ method: 'NOTIFY', data: 'queued-1' })
    pa.send({ method: 'NOTIFY', data: 'queued-2' })
    t.equal((await pa.get('/peerconnection')).code, 'success')
    // Through the other instance, then the same one: a GET sent the moment the socket opens.
    const joiner = new TestPeer(roomAt(round % 2 === 0 ? b : a, room))
    joiner.socket.once('open', () => joiner.send({ method: 'GET', resource: '/peerconnection', msg_id: 'first' }))
    await joiner.opened
    t.same(await joiner.next(), { method: 'NOTIFY', data: 'queued-1' }, `round ${round}`)
    t.same(await joiner.next(), { method: 'NOTIFY', data: 'queued-2' })
    t.match(await joiner.next(), { msg_id: 'first', code: 'success' })
    pa.close()
    await joiner.closed
  }
})
