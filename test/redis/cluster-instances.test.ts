// Two instances of the standalone server on a real three-master Redis Cluster
// (--redis-cluster): split calls, group rooms and resume across them, whichever master holds
// the room.
import t from 'tap'
import { handshakeStatus, join, type Message, type TestPeer } from '../helpers/client.js'
import { startCli, type RunningCli } from '../helpers/cli.js'
import { freshRoom, openSession, roomAt } from './instances.js'
import { RedisCluster } from './redis-cluster.js'

const cluster = await RedisCluster.start(t)
// Two of the three nodes named: the instances find the third.
const redisFlags = cluster.urls.slice(0, 2).flatMap(url => ['--redis-cluster', url])
const start = async (flags: string[] = []): Promise<RunningCli> =>
  await startCli(t, ['-l', 'tcp:127.0.0.1:0', ...redisFlags, '--no-demo', '-q', ...flags])
const [a, b] = await Promise.all([start(['--room-size', '4']), start(['--room-size', '4'])])

/** The first frame a peer of a group room gets: its ROOM message. */
async function member (instance: RunningCli, room: string): Promise<{ peer: TestPeer, id: string }> {
  const peer = await join(roomAt(instance, room))
  const welcome: Message = await peer.next()
  if (welcome.method !== 'ROOM') throw new Error(`expected ROOM first, got ${JSON.stringify(welcome)}`)
  return { peer, id: (welcome.data as { peer: string }).peer }
}

t.test('a call split across the instances relays both ways in order, whichever master holds the room', async t => {
  for (const room of await cluster.roomsOnEveryMaster('split', 6)) {
    const pa = await member(a, room)
    const pb = await member(b, room)
    t.same(await pa.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: pb.id } })
    const count = 50
    for (let i = 0; i < count; i++) {
      pa.peer.send({ method: 'NOTIFY', data: { from: 'a', i } })
      pb.peer.send({ method: 'NOTIFY', data: { from: 'b', i } })
    }
    const atB = []
    const atA = []
    for (let i = 0; i < count; i++) atB.push(await pb.peer.next())
    for (let i = 0; i < count; i++) atA.push(await pa.peer.next())
    t.same(atB, Array.from({ length: count }, (_, i) => ({ from: pa.id, method: 'NOTIFY', data: { from: 'a', i } })), `${room}: a to b`)
    t.same(atA, Array.from({ length: count }, (_, i) => ({ from: pb.id, method: 'NOTIFY', data: { from: 'b', i } })), `${room}: b to a`)
    pa.peer.close()
    pb.peer.close()
  }
})

t.test('a group room of four, two peers at each instance: every frame reaches the peers it is for, once', async t => {
  const room = freshRoom()
  const members = []
  for (const instance of [a, b, a, b]) {
    const joining = await member(instance, room)
    for (const other of members) t.same(await other.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: joining.id } })
    members.push(joining)
  }
  // Each broadcast goes to one peer at its own instance and two at the other.
  for (const sender of members) {
    sender.peer.send({ method: 'NOTIFY', data: `from ${sender.id}` })
    for (const other of members) {
      if (other !== sender) t.same(await other.peer.next(), { from: sender.id, method: 'NOTIFY', data: `from ${sender.id}` })
    }
  }
  const [p1, p2, p3, p4] = members
  p1.peer.send({ method: 'NOTIFY', to: p3.id, data: 'same instance' })
  p1.peer.send({ method: 'NOTIFY', to: p4.id, data: 'other instance' })
  t.same(await p3.peer.next(), { from: p1.id, method: 'NOTIFY', to: p3.id, data: 'same instance' })
  t.same(await p4.peer.next(), { from: p1.id, method: 'NOTIFY', to: p4.id, data: 'other instance' })
  p2.peer.close()
  for (const other of [p1, p3, p4]) t.same(await other.peer.next(), { method: 'PRESENCE', data: { state: 'left', peer: p2.id } })
  for (const peer of [p1, p3, p4]) t.same(peer.peer.pending(), [], 'nothing more')
})

t.test('resume across instances: drop at a, frames queued meanwhile, resume at b', async t => {
  const room = freshRoom()
  const pa = await member(a, room)
  const pb = await member(b, room)
  t.same(await pa.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: pb.id } })
  const session = await openSession(pa.peer)
  pa.peer.drop()
  t.same(await pb.peer.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: pa.id } })
  for (let i = 0; i < 3; i++) pb.peer.send({ method: 'NOTIFY', to: pa.id, data: { away: i } })
  const back = await join(roomAt(b, room, `resume=${session.token}`))
  t.match(await back.next(), { method: 'ROOM', data: { peer: pa.id } })
  for (let i = 0; i < 3; i++) t.same(await back.next(), { from: pb.id, method: 'NOTIFY', to: pa.id, data: { away: i } })
  t.same(await pb.peer.next(), { method: 'PRESENCE', data: { state: 'back', peer: pa.id } })
  back.send({ method: 'NOTIFY', data: 'from the resumed peer' })
  t.same(await pb.peer.next(), { from: pa.id, method: 'NOTIFY', data: 'from the resumed peer' })
  t.equal(await handshakeStatus(roomAt(a, room, `resume=${session.token}`)), 400, 'the used token is refused at either instance')
})
