// Redis stalling longer than the liveness period (6 s) and resuming with its data: no instance
// died, so no call may end. An instance is judged dead only by one that could talk to Redis
// all along while the other did not refresh its marker, never because Redis itself stalled.
import t, { type Test } from 'tap'
import type { RunningCli } from '../helpers/cli.js'
import { join, sleep, until, type TestPeer } from '../helpers/client.js'
import { freshRoom, healthStatus, openSession, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const calls = 20
const stallMs = 10_000
// Longer than an instance takes to notice a dead one (about one and a half liveness periods).
const watchMs = 9000

// Reads what each peer has received so far (presence notices), up to a marker from the other.
async function drain (first: TestPeer, second: TestPeer): Promise<void> {
  first.send({ method: 'NOTIFY', data: 'drain' })
  second.send({ method: 'NOTIFY', data: 'drain' })
  while ((await first.next()).data !== 'drain');
  while ((await second.next()).data !== 'drain');
}

/** Two instances on one Redis, and `calls` calls split across them, half with sessions. */
async function splitCalls (t: Test): Promise<{ redis: RedisServer, a: RunningCli, b: RunningCli, pairs: Array<[TestPeer, TestPeer]> }> {
  const redis = await RedisServer.start(t)
  t.teardown(() => { try { redis.resume() } catch {} })
  const [a, b] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  const pairs: Array<[TestPeer, TestPeer]> = []
  for (let i = 0; i < calls; i++) {
    const room = freshRoom()
    // Alternate sides, so that each instance has first and second peers.
    const [x, y] = i % 2 === 0 ? [a, b] : [b, a]
    const first = await join(roomAt(x, room))
    const second = await join(roomAt(y, room))
    // Half of the calls hold sessions, as resuming clients do.
    if (i < calls / 2) {
      await openSession(first)
      await openSession(second)
    }
    await drain(first, second)
    pairs.push([first, second])
  }
  return { redis, a, b, pairs }
}

/** Checks that every call is still up, relays both ways, and saw nothing else. */
async function allCallsUp (t: Test, pairs: Array<[TestPeer, TestPeer]>, closes: () => number): Promise<void> {
  t.equal(closes(), 0, 'no peer was closed')
  for (const [i, [first, second]] of pairs.entries()) {
    first.send({ method: 'NOTIFY', data: `to second ${i}` })
    second.send({ method: 'NOTIFY', data: `to first ${i}` })
  }
  for (const [i, [first, second]] of pairs.entries()) {
    t.same(await second.next().catch(String), { method: 'NOTIFY', data: `to second ${i}` }, `call ${i} relays one way`)
    t.same(await first.next().catch(String), { method: 'NOTIFY', data: `to first ${i}` }, `call ${i} relays the other`)
    t.same([...first.pending(), ...second.pending()], [], `call ${i}: nothing else (no presence change)`)
  }
}

function countCloses (pairs: Array<[TestPeer, TestPeer]>): () => number {
  let closes = 0
  for (const peer of pairs.flat()) void peer.closed.then(() => { closes++ })
  return () => closes
}

t.test('a 10 s Redis stall ends no call, with or without sessions', async t => {
  const { redis, a, b, pairs } = await splitCalls(t)
  const closes = countCloses(pairs)
  redis.pause()
  await sleep(stallMs)
  redis.resume()
  await until(async () => await healthStatus(a) === 200 && await healthStatus(b) === 200, 15_000)
  await sleep(watchMs)
  await allCallsUp(t, pairs, closes)
})

// The race that ended calls: after the stall, whichever instance reached Redis first judged the
// other dead before it could refresh. Instance a is held back for a few seconds (less than a
// liveness period) as Redis resumes, so b always gets there first.
t.test('after a 10 s Redis stall, an instance slow to come back is not judged dead', async t => {
  const { redis, a, b, pairs } = await splitCalls(t)
  const closes = countCloses(pairs)
  t.teardown(() => { a.child.kill('SIGCONT') })
  redis.pause()
  await sleep(stallMs - 1000)
  a.child.kill('SIGSTOP')
  await sleep(1000)
  redis.resume()
  await sleep(3000)
  a.child.kill('SIGCONT')
  await until(async () => await healthStatus(a) === 200 && await healthStatus(b) === 200, 15_000)
  await sleep(watchMs)
  await allCallsUp(t, pairs, closes)
})
