// Redis going away and coming back: the instances stay up, refuse joins with 503 while it is
// unreachable, reconnect by themselves and serve again.
import t from 'tap'
import { handshakeStatus, join, until } from '../helpers/client.js'
import { closedWithin, freshRoom, healthStatus, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

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
  t.same(await pa.next(), { code: 'failed', reason: 'internal error' }, 'a frame that cannot be relayed is answered')

  await redis.restart()
  await until(async () => await healthStatus(a) === 200 && await healthStatus(b) === 200, 15_000)
  // The restarted Redis holds no rooms: calls that lived only there are over.
  t.equal((await closedWithin(pa, 5000)).code, 1000)
  t.equal((await closedWithin(pb, 5000)).code, 1000)

  const again = freshRoom()
  const qa = await join(roomAt(a, again))
  const qb = await join(roomAt(b, again))
  qa.send({ method: 'NOTIFY', data: 'after' })
  t.same(await qb.next(), { method: 'NOTIFY', data: 'after' })
  qb.send({ method: 'NOTIFY', data: 'and back' })
  t.same(await qa.next(), { method: 'NOTIFY', data: 'and back' })
  t.equal(a.child.exitCode, null, 'instance a never exited')
  t.equal(b.child.exitCode, null, 'instance b never exited')
  t.notMatch(a.stderr() + b.stderr(), /unhandled|uncaught/i)
})
