// The Redis store with Redis hung (SIGSTOP: connections open, nothing answered): commands time
// out, the store says it is unavailable and refuses frames at once, the bytes in flight are
// capped, close() does not wait on Redis, and it all comes back by itself.
import t, { type Test } from 'tap'
import type { StoreContext } from '../../lib/index.js'
import { redisStore, type RedisStore, type RedisStoreOptions } from '../../lib/redis.js'
import { until } from '../helpers/client.js'
import { RecordingSink, testContext } from '../stores/conformance.js'
import { RedisServer } from './redis-server.js'

let rooms = 0
const room = (): string => `store-hang-${++rooms}`

/** A Redis of its own (paused by the test), and two started stores on it, closed at the end. */
async function setup (t: Test, options: Partial<RedisStoreOptions>, context?: Partial<StoreContext>): Promise<{ redis: RedisServer, a: RedisStore, b: RedisStore }> {
  const redis = await RedisServer.start(t)
  t.teardown(() => { try { redis.resume() } catch {} })
  const open = async (): Promise<RedisStore> => {
    const store = redisStore({ url: redis.url, ...options })
    await store.start(testContext(context))
    t.teardown(() => store.close())
    return store
  }
  return { redis, a: await open(), b: await open() }
}

/** A call between p1 on `a` and p2 on `b`; returns the sink of p2. */
async function call (a: RedisStore, b: RedisStore, r: string): Promise<RecordingSink> {
  const partner = new RecordingSink()
  await a.reserve(r, { peerId: 'p1' }, 2)
  await a.attach(r, 'p1', `c1-${r}`, new RecordingSink())
  await b.reserve(r, { peerId: 'p2' }, 2)
  await b.attach(r, 'p2', `c2-${r}`, partner)
  return partner
}

/** How a promise settles: its value, or the code (or message) of its error. */
async function outcome (promise: unknown): Promise<unknown> {
  return await Promise.resolve(promise).then(value => value, (err: { code?: string, message: string }) => err.code ?? err.message)
}

t.test('a hung Redis: commands time out, then frames and joins are refused at once', async t => {
  const { redis, a, b } = await setup(t, { commandTimeoutMs: 300 })
  const r = room()
  const partner = await call(a, b, r)
  redis.pause()
  t.equal(await outcome(a.relay(r, 'p1', 'lost in the hang')), 'Command timed out', 'the command times out')
  t.equal(a.available, false, 'a timeout makes the store unavailable')
  await until(() => !b.available, 5000)
  t.equal(await outcome(a.relay(r, 'p1', 'refused')), 'FST_RTC_NOTIFY_REDIS_UNAVAILABLE', 'a frame is refused, not sent')
  t.equal(await outcome(a.reserve(room(), { peerId: 'p' }, 2)), 'FST_RTC_NOTIFY_REDIS_UNAVAILABLE', 'so is a join')
  t.equal(await outcome(a.openSession(r, 'p1', 'token')), 'FST_RTC_NOTIFY_REDIS_UNAVAILABLE')

  redis.resume()
  await until(() => a.available && b.available, 10_000)
  t.equal(await a.relay(r, 'p1', 'after'), 'delivered', 'the call set up before relays again')
  await until(() => partner.frames().includes('after'))
  t.notOk(partner.frames().includes('refused'), 'a refused frame was never sent')
})

t.test('the bytes in flight to a hung Redis are capped: beyond it, frames are refused at once', async t => {
  // A long timeout, so that the cap is what refuses.
  const { redis, a, b } = await setup(t, { commandTimeoutMs: 10_000, maxInFlightBytes: 100_000 })
  const r = room()
  const partner = await call(a, b, r)
  redis.pause()
  const frame = (i: number): string => `${i}:`.padEnd(30_000, 'x')
  const relays = Array.from({ length: 5 }, (_, i) => outcome(a.relay(r, 'p1', frame(i))))
  const refused = await Promise.race([Promise.all(relays.slice(3)), new Promise(resolve => setTimeout(resolve, 2000, 'waiting'))])
  t.same(refused, ['FST_RTC_NOTIFY_REDIS_BACKLOG', 'FST_RTC_NOTIFY_REDIS_BACKLOG'], 'past 100 000 bytes, refused without waiting')
  redis.resume()
  t.same(await Promise.all(relays.slice(0, 3)), ['delivered', 'delivered', 'delivered'], 'those within the cap go through')
  await until(() => partner.frames().length === 3)
  t.same(partner.frames(), [frame(0), frame(1), frame(2)])
})

t.test('a join that timed out takes no seat once Redis answers again', async t => {
  const { redis, a, b } = await setup(t, { commandTimeoutMs: 300 })
  const r = room()
  redis.pause()
  t.equal(await outcome(a.reserve(r, { peerId: 'p1' }, 2)), 'Command timed out')
  redis.resume()
  await until(() => a.available, 10_000)
  t.equal(await b.reserve(r, { peerId: 'p2' }, 2), 'created', 'the seat Redis took late was given back')
})

t.test('a suspension that timed out still ends with its grace period', async t => {
  const { redis, a, b } = await setup(t, { commandTimeoutMs: 300 }, { graceMs: 1000 })
  const r = room()
  const partner = await call(a, b, r)
  await a.openSession(r, 'p1', `token-${r}`)
  redis.pause()
  t.equal(await outcome(a.suspend(r, 'p1', `c1-${r}`)), 'Command timed out')
  redis.resume()
  await until(() => partner.events.includes('presence reconnecting'), 10_000)
  await until(() => partner.events.includes('end'), 10_000)
  t.pass('the partner is ended when the grace period is over')
})

t.test('close() does not wait on a hung Redis', async t => {
  const { redis, a } = await setup(t, { commandTimeoutMs: 500 })
  const r = room()
  await a.reserve(r, { peerId: 'p1' }, 2)
  await a.attach(r, 'p1', 'c1', new RecordingSink())
  redis.pause()
  // The store has not noticed yet: it tries to say goodbye, and gives up after the command timeout.
  let timer: NodeJS.Timeout | undefined
  const closed = await Promise.race([
    a.close().then(() => 'closed'),
    new Promise<string>(resolve => { timer = setTimeout(resolve, 5000, 'still closing') })
  ])
  clearTimeout(timer)
  t.equal(closed, 'closed')
})
