// Redis going away and coming back: the instances stay up, refuse joins with 503 while it is
// unreachable, reconnect by themselves and serve again. A Redis that comes back empty ends the
// calls split across instances; those whose peers are all on one instance go on (issue 14).
import t, { type Test } from 'tap'
import { handshakeStatus, join, until } from '../helpers/client.js'
import type { RunningCli } from '../helpers/cli.js'
import { closedWithin, coLocatedAndSplit, freshRoom, healthStatus, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

/** A new call across `a` and `b` relays both ways. */
async function aFreshCallRelays (t: Test, a: RunningCli, b: RunningCli): Promise<void> {
  const room = freshRoom()
  const qa = await join(roomAt(a, room))
  const qb = await join(roomAt(b, room))
  qa.send({ method: 'NOTIFY', data: 'after' })
  t.same(await qb.next(), { method: 'NOTIFY', data: 'after' })
  qb.send({ method: 'NOTIFY', data: 'and back' })
  t.same(await qa.next(), { method: 'NOTIFY', data: 'and back' })
}

t.test('Redis restart: 503 while it is down, serving again after, no crash', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  const room = freshRoom()
  const pa = await join(roomAt(a, room))
  const pb = await join(roomAt(b, room))
  pa.send({ method: 'NOTIFY', data: 'before' })
  t.same(await pb.next(), { method: 'NOTIFY', data: 'before' })

  await redis.stop()
  await until(async () => await healthStatus(a) === 503 && await healthStatus(b) === 503, 10_000)
  t.equal(await handshakeStatus(roomAt(a, freshRoom())), 503, 'a new join is refused while Redis is down')
  t.equal(await handshakeStatus(roomAt(b, room)), 503)
  pa.send({ method: 'NOTIFY', data: 'into the void' })
  // docs/protocol.md#failure-reasons: store_unavailable
  t.same(await pa.next(), { code: 'failed', reason: 'the server cannot reach its room store' }, 'a frame that cannot be relayed is answered, saying why')

  await redis.restart()
  await until(async () => await healthStatus(a) === 200 && await healthStatus(b) === 200, 15_000)
  // The restarted Redis holds no rooms: calls that lived only there are over.
  t.equal((await closedWithin(pa, 5000)).code, 1000)
  t.equal((await closedWithin(pb, 5000)).code, 1000)

  await aFreshCallRelays(t, a, b)
  t.equal(a.child.exitCode, null, 'instance a never exited')
  t.equal(b.child.exitCode, null, 'instance b never exited')
  t.notMatch(a.stderr() + b.stderr(), /unhandled|uncaught/i)
})

t.test('Redis restarts empty: a co-located call is written back and relays on, a split one ends', async t => {
  const redis = await RedisServer.start(t)
  const [a, b] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  const { together, p1, p2, s1, s2 } = await coLocatedAndSplit(t, a, b)

  // Frames flow from p1 to p2 all along: while Redis is down, while it comes back, and after.
  const sent: number[] = []
  const streaming = setInterval(() => {
    sent.push(sent.length)
    p1.send({ method: 'NOTIFY', data: sent.length - 1 })
  }, 20)
  t.teardown(() => clearInterval(streaming))
  await redis.stop()
  await until(async () => await healthStatus(a) === 503 && await healthStatus(b) === 503, 10_000)
  const outageSeen = sent.length
  await until(() => p2.pending().length >= outageSeen + 5, 10_000)
  t.pass('co-located: frames sent while Redis is down are relayed')
  await redis.restart()
  await until(async () => await healthStatus(a) === 200 && await healthStatus(b) === 200, 15_000)
  // The split call lived only in Redis: it is over.
  t.equal((await closedWithin(s1, 5000)).code, 1000, 'split: closed')
  t.equal((await closedWithin(s2, 5000)).code, 1000, 'split: its other peer too')
  clearInterval(streaming)
  const received: unknown[] = []
  while (received.length < sent.length) {
    const frame = await p2.next().catch(() => undefined)
    if (frame === undefined) break
    received.push(frame.data)
  }
  t.same(received, sent, 'co-located: every frame relayed, in order, during the restart and after')
  t.same(p1.pending(), [], 'and none refused')

  t.equal(await handshakeStatus(roomAt(b, together)), 400, 'the room was written back: a third peer finds it full')
  t.equal(await handshakeStatus(roomAt(a, together)), 400)
  p2.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await p1.next(), { method: 'NOTIFY', data: 'still here' })
  p1.close()
  t.equal((await closedWithin(p2, 5000)).code, 1000, 'one hangs up: the other is closed, as in any call')

  await aFreshCallRelays(t, a, b)
  const again = await join(roomAt(b, together))
  const partner = await join(roomAt(a, together))
  again.send({ method: 'NOTIFY', data: 'a new call in the same room' })
  t.same(await partner.next(), { method: 'NOTIFY', data: 'a new call in the same room' }, 'the room is free again once the call ended')
  t.notMatch(a.stderr() + b.stderr(), /unhandled|uncaught/i)
})
