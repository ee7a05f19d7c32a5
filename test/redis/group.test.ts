// docs/protocol.md#group-rooms across two instances sharing a Redis: peers of one room on both.
import t from 'tap'
import { join, TestPeer, type Message } from '../helpers/client.js'
import { freshRoom, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'
import type { RunningCli } from '../helpers/cli.js'

const redis = await RedisServer.start(t)
const [a, b] = await Promise.all([
  startInstance(t, redis.url, ['--room-size', '4']),
  startInstance(t, redis.url, ['--room-size', '4'])
])

interface Member { peer: TestPeer, id: string, room: Message }

async function member (instance: RunningCli, room: string): Promise<Member> {
  const peer = await join(roomAt(instance, room))
  const welcome = await peer.next()
  if (welcome.method !== 'ROOM') throw new Error(`expected ROOM first, got ${JSON.stringify(welcome)}`)
  return { peer, id: (welcome.data as { peer: string }).peer, room: welcome }
}

t.test('join and leave notices, broadcast and addressed NOTIFYs, across instances', async t => {
  const room = freshRoom()
  const p1 = await member(a, room)
  const p2 = await member(b, room)
  t.same(p2.room.data, { peer: p2.id, size: 4, peers: [{ peer: p1.id }] })
  t.same(await p1.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: p2.id } })
  const p3 = await member(a, room)
  t.same(await p1.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: p3.id } })
  t.same(await p2.peer.next(), { method: 'PRESENCE', data: { state: 'joined', peer: p3.id } })
  p2.peer.send({ method: 'NOTIFY', data: 'to all' })
  t.same(await p1.peer.next(), { from: p2.id, method: 'NOTIFY', data: 'to all' })
  t.same(await p3.peer.next(), { from: p2.id, method: 'NOTIFY', data: 'to all' })
  p1.peer.send({ method: 'NOTIFY', to: p2.id, data: 'to p2 at b' })
  t.same(await p2.peer.next(), { from: p1.id, method: 'NOTIFY', to: p2.id, data: 'to p2 at b' })
  p2.peer.close()
  t.same(await p1.peer.next(), { method: 'PRESENCE', data: { state: 'left', peer: p2.id } })
  t.same(await p3.peer.next(), { method: 'PRESENCE', data: { state: 'left', peer: p2.id } })
  p3.peer.send({ method: 'NOTIFY', data: 'the call goes on' })
  t.same(await p1.peer.next(), { from: p3.id, method: 'NOTIFY', data: 'the call goes on' })
})

t.test('frames of a peer alone wait for the next to join, at the other instance', async t => {
  const room = freshRoom()
  const p1 = await member(a, room)
  p1.peer.send({ method: 'NOTIFY', data: 'early' })
  await p1.peer.get('/peerconnection')
  const p2 = await member(b, room)
  t.same(await p2.peer.next(), { from: p1.id, method: 'NOTIFY', data: 'early' })
})

t.test('2N simultaneous joins through both instances leave exactly N seated', async t => {
  for (let round = 0; round < 3; round++) {
    const room = freshRoom()
    const peers = Array.from({ length: 8 }, (_, i) => new TestPeer(roomAt(i % 2 === 0 ? a : b, room)))
    const results = await Promise.allSettled(peers.map(async peer => await peer.opened))
    t.equal(results.filter(r => r.status === 'fulfilled').length, 4, `round ${round}`)
    for (const peer of peers) peer.drop()
  }
})
