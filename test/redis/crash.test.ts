// An instance killed with SIGKILL leaves seats behind in Redis; the other instances reclaim them
// and close the partners within 15 s, with no operator action.
import t from 'tap'
import { join, until, type TestPeer } from '../helpers/client.js'
import { closedWithin, freshRoom, healthStatus, openSession, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const healsWithinMs = 15_000

t.test('SIGKILL of an instance heals within 15 s: partners closed, rooms reusable, sessions resumable', async t => {
  const redis = await RedisServer.start(t)
  const [survivor, doomed] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])

  // A call split across the two instances, without sessions.
  const split = freshRoom()
  const onDoomed = await join(roomAt(doomed, split))
  const onSurvivor = await join(roomAt(survivor, split))
  // A call entirely on the doomed instance, and a peer alone there.
  const both = freshRoom()
  await join(roomAt(doomed, both))
  await join(roomAt(doomed, both))
  const alone = freshRoom()
  await join(roomAt(doomed, alone))
  // A split call whose peers hold sessions.
  const resumable = freshRoom()
  const s1 = await join(roomAt(doomed, resumable))
  const session = await openSession(s1)
  const s2 = await join(roomAt(survivor, resumable))
  await openSession(s2)
  t.match(await s2.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
  onDoomed.send({ method: 'NOTIFY', data: 'before' })
  t.same(await onSurvivor.next(), { method: 'NOTIFY', data: 'before' })

  doomed.child.kill('SIGKILL')
  t.equal(await doomed.exited, 'SIGKILL')

  t.equal((await closedWithin(onSurvivor, healsWithinMs)).code, 1000, 'the partner of a peer on the dead instance is closed')
  t.match(await s2.next(healsWithinMs), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } },
    'a session peer on the dead instance is dropped, not hung up: its partner hears "reconnecting"')
  s2.send({ method: 'NOTIFY', data: 'while you were away' })
  const back = await join(roomAt(survivor, resumable, `resume=${session.token}`))
  t.same(await back.next(), { method: 'NOTIFY', data: 'while you were away' })
  t.match(await s2.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
  back.send({ method: 'NOTIFY', data: 'resumed elsewhere' })
  t.same(await s2.next(), { method: 'NOTIFY', data: 'resumed elsewhere' })

  for (const room of [split, both, alone]) {
    const pair = await joinPair(survivor.ws, room, healsWithinMs)
    pair[0].send({ method: 'NOTIFY', data: room })
    t.same(await pair[1].next(), { method: 'NOTIFY', data: room }, `room ${room} is free for a new call`)
  }
  t.equal(await healthStatus(survivor), 200, 'the survivor serves on')
})

// Two peers in `room` at the survivor, once the dead instance's seats there are reclaimed.
async function joinPair (ws: string, room: string, timeoutMs: number): Promise<[TestPeer, TestPeer]> {
  let first: TestPeer | undefined
  await until(async () => {
    first = await join(`${ws}/call/${room}`).catch(() => undefined)
    return first !== undefined
  }, timeoutMs)
  return [first!, await join(`${ws}/call/${room}`)]
}
