// The Redis store: the RoomStore contract with two instances (two stores, each with its own
// connections) on one real redis-server, then what only a shared, remote store has to get right.
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { StoreContext } from '../../lib/index.js'
import { redisStore, type RedisStore, type RedisStoreOptions } from '../../lib/redis.js'
import { until } from '../helpers/client.js'
import { conformance, RecordingSink, testContext } from '../stores/conformance.js'
import { RedisServer } from './redis-server.js'

const redis = await RedisServer.start(t)
const admin = new Redis(redis.url)
t.teardown(() => admin.quit())

conformance(t, {
  async open (t, context) {
    return [await started(t, {}, context), await started(t, {}, context)]
  }
})

/** A started Redis store, closed when `t` ends. */
async function started (t: Test, options: Partial<RedisStoreOptions> = {}, context?: Partial<StoreContext>): Promise<RedisStore> {
  const store = redisStore({ url: redis.url, ...options })
  await store.start(testContext(context))
  t.teardown(() => store.close())
  return store
}

let rooms = 0
const room = (): string => `redis-store-${++rooms}`

t.test('a room\'s keys share its hash tag, and nothing of it is left after the call', async t => {
  const [a, b] = [await started(t, { prefix: 'keys-test:' }), await started(t, { prefix: 'keys-test:' })]
  const r = room()
  await a.reserve(r, { peerId: 'p1' }, 2)
  await a.attach(r, 'p1', 'c1', new RecordingSink())
  await a.relay(r, 'p1', 'queued')
  await a.openSession(r, 'p1', 'token-1')
  const roomKeys = (await admin.keys('keys-test:*')).filter(key => key.includes(r)).sort()
  t.same(roomKeys, [`keys-test:{${r}}:queue`, `keys-test:{${r}}:room`], 'two keys, one hash tag: one Cluster slot')
  const q = new RecordingSink()
  await b.reserve(r, { peerId: 'p2' }, 2)
  await b.attach(r, 'p2', 'c2', q)
  t.match(await a.leave(r, 'p1', 'c1'), { left: true, ended: { createdAt: Number } })
  await until(() => q.events.includes('end'))
  await until(async () => (await admin.keys('keys-test:*')).every(key => key.startsWith('keys-test:instance')))
  t.same((await admin.keys('keys-test:*')).filter(key => !/^keys-test:instances?[:]?/.test(key)), [], 'no room, queue or token key left')
  for (const id of await admin.smembers('keys-test:instances')) {
    t.equal(await admin.scard(`keys-test:instance:${id}:rooms`), 0, 'no instance lists a room')
  }
})

t.test('many calls come and go, some with sessions: nothing is left in Redis', async t => {
  const prefix = 'soak-test:'
  const [a, b] = [await started(t, { prefix }), await started(t, { prefix })]
  for (let i = 0; i < 200; i++) {
    const r = room()
    await a.reserve(r, { peerId: 'p1' }, 2)
    await a.attach(r, 'p1', `c1-${i}`, new RecordingSink())
    await a.relay(r, 'p1', 'queued for p2')
    await b.reserve(r, { peerId: 'p2' }, 2)
    await b.attach(r, 'p2', `c2-${i}`, new RecordingSink())
    await b.relay(r, 'p2', 'live')
    if (i % 3 === 0) {
      await a.openSession(r, 'p1', `token-${i}`)
      await a.suspend(r, 'p1', `c1-${i}`)
      await b.relay(r, 'p2', 'queued for p1')
    }
    if (i % 2 === 0) {
      await a.leave(r, 'p1', `c1-${i}`)
    } else {
      await b.leave(r, 'p2', `c2-${i}`)
      // What the room manager's grace timer does for a suspended peer.
      if (i % 3 === 0) t.same(await a.leave(r, 'p1', `c1-${i}`), { left: false }, 'the call had already ended')
    }
    if (i % 5 === 0) {
      const other = room()
      await b.reserve(other, { peerId: 'p3' }, 2)
      await b.release(other, 'p3')
    }
  }
  const leftOver = async (): Promise<string[]> => {
    const keys = (await admin.keys(`${prefix}*`)).filter(key => !/^soak-test:instances?(:[^:]+)?$/.test(key))
    return keys
  }
  await until(async () => (await leftOver()).length === 0).catch(() => {})
  t.same(await leftOver(), [], 'no room, queue, token or instance room set left')
})

t.test('redisStore({ client }) takes the client\'s settings and leaves the client untouched', async t => {
  const client = new Redis(redis.url)
  t.teardown(() => client.quit())
  const events = ['close', 'ready', 'error', 'end', 'reconnecting'] as const
  const listeners = (): number[] => events.map(event => client.listenerCount(event))
  const before = listeners()
  // Two stores from one client, as two plugin registrations would make.
  const stores = [redisStore({ client }), redisStore({ client })]
  for (const store of stores) await store.start(testContext())
  const r = room()
  t.equal(await stores[0].reserve(r, { peerId: 'p1' }, 2), 'created')
  t.equal(await stores[1].reserve(r, { peerId: 'p2' }, 2), 'joined', 'both stores work')
  t.same(listeners(), before, 'no listener added to the caller\'s client')
  t.notOk('rtcNotifyReserve' in client, 'no command defined on the caller\'s client')
  for (const store of stores) await store.close()
  t.same(listeners(), before)
  t.equal(await client.ping(), 'PONG', 'the caller\'s client is still usable')
})

t.test('redisStore needs exactly one of url and client, a prefix without braces, and sane numbers', async t => {
  const invalid = (message: RegExp): { code: string, message: RegExp } => ({ code: 'FST_RTC_NOTIFY_INVALID_OPTION', message })
  t.throws(() => redisStore({}), invalid(/exactly one of `url`, `cluster` and `client`/))
  t.throws(() => redisStore({ url: redis.url, client: admin }), invalid(/exactly one/))
  t.throws(() => redisStore({ url: redis.url, prefix: 'a{b}:' }), invalid(/"prefix": may not contain braces/))
  t.throws(() => redisStore({ url: redis.url, commandTimeoutMs: 0 }), invalid(/"commandTimeoutMs": expected a number above 0/))
  t.throws(() => redisStore({ url: redis.url, maxInFlightBytes: -1 }), invalid(/"maxInFlightBytes"/))
})

t.test('start fails with a clear error when Redis is unreachable', async t => {
  const store = redisStore({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300 })
  await t.rejects(store.start(testContext()), {
    code: 'FST_RTC_NOTIFY_REDIS_UNREACHABLE',
    message: /cannot use Redis: not reachable within 300 ms/
  })
})

/**
 * A room split across two stores, p1 bound (connection c1) on `gone`, p2 (c2) on `survivor`,
 * p1 with a session when asked. The caller then closes `gone` without leaving first, as a crash
 * would: the seat stays, the liveness key goes.
 */
async function splitAcrossInstances (t: Test, graceMs?: number, session = false): Promise<{
  survivor: RedisStore, gone: RedisStore, r: string, partner: RecordingSink, token: string | undefined
}> {
  const context = graceMs === undefined ? undefined : { graceMs }
  const survivor = await started(t, { livenessMs: 600 }, context)
  const gone = redisStore({ url: redis.url, livenessMs: 600 })
  await gone.start(testContext(context))
  const r = room()
  const partner = new RecordingSink()
  await gone.reserve(r, { peerId: 'p1' }, 2)
  await gone.attach(r, 'p1', 'c1', new RecordingSink())
  const token = session ? (await gone.openSession(r, 'p1', `token-${r}`)).token : undefined
  await survivor.reserve(r, { peerId: 'p2' }, 2)
  await survivor.attach(r, 'p2', 'c2', partner)
  return { survivor, gone, r, partner, token }
}

t.test('an instance gone with bound seats: the others end its calls', async t => {
  const { survivor, gone, r, partner } = await splitAcrossInstances(t)
  await gone.close()
  await until(() => partner.events.includes('end'), 10_000)
  t.equal(await survivor.reserve(r, { peerId: 'p3' }, 2), 'created', 'the room was deleted')
})

t.test('an instance gone with a suspended session seat: the others keep the grace period', async t => {
  const { survivor, gone, r, partner, token } = await splitAcrossInstances(t, 500, true)
  await gone.suspend(r, 'p1', 'c1')
  await gone.close()
  t.equal(await survivor.reserve(r, { peerId: 'p3' }, 2), 'full', 'the seat is held')
  await until(() => partner.events.includes('end'), 10_000)
  t.same(await survivor.claim(r, token!, 'next', undefined), { ok: false, reason: 'unknown_token' }, 'the grace period ended the call')
})

t.test('a session seat of an instance gone while connected is suspended, and can be resumed elsewhere', async t => {
  const { survivor, gone, r, partner, token } = await splitAcrossInstances(t, undefined, true)
  await gone.close()
  await until(() => partner.events.includes('presence reconnecting'), 10_000)
  t.equal(await survivor.relay(r, 'p2', 'for the resumed peer'), 'queued')
  t.same(await survivor.claim(r, token!, 'next', undefined), { ok: true, seat: { peerId: 'p1' } })
  const back = new RecordingSink()
  await survivor.attach(r, 'p1', 'c3', back)
  t.same(back.frames(), ['for the resumed peer'])
  await until(() => partner.events.includes('presence back'))
})

t.test('frames published while an instance\'s subscriber is cut are queued and delivered in order', async t => {
  const [a, b] = [await started(t), await started(t)]
  const r = room()
  const pa = new RecordingSink()
  const pb = new RecordingSink()
  await a.reserve(r, { peerId: 'p1' }, 2)
  await a.attach(r, 'p1', 'c1', pa)
  await b.reserve(r, { peerId: 'p2' }, 2)
  await b.attach(r, 'p2', 'c2', pb)
  await admin.client('KILL', 'TYPE', 'pubsub')
  const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => b.relay(r, 'p2', `${i}`)))
  t.ok(outcomes.every(o => o === 'queued' || o === 'delivered'))
  t.ok(outcomes.includes('queued'), 'with nobody subscribed, frames wait in the queue')
  await until(() => pa.frames().length === 20, 10_000)
  t.same(pa.frames(), Array.from({ length: 20 }, (_, i) => `${i}`))
  await until(() => a.available && b.available)
  t.equal(await b.relay(r, 'p2', 'live again'), 'delivered')
  await until(() => pa.frames().length === 21)
})

t.test('Redis restarting: unavailable, failing fast, then back; a peer waiting alone there is ended', async t => {
  const own = await RedisServer.start(t)
  const store = await started(t, { url: own.url })
  const r = room()
  const sink = new RecordingSink()
  await store.reserve(r, { peerId: 'p1' }, 2)
  await store.attach(r, 'p1', 'c1', sink)
  await own.stop()
  await until(() => !store.available)
  await t.rejects(Promise.resolve(store.relay(r, 'p1', 'x')), 'commands fail while Redis is away')
  await t.rejects(store.reserve(room(), { peerId: 'p' }, 2))
  await own.restart()
  await until(() => store.available, 10_000)
  await until(() => sink.events.includes('end'))
  t.equal(await store.reserve(r, { peerId: 'p2' }, 2), 'created', 'serving again')
})

t.test('Redis restarting empty: a call whose peers are all connected here is written back as it was', async t => {
  const own = await RedisServer.start(t)
  const store = await started(t, { url: own.url })
  const r = room()
  const [p1, p2] = [new RecordingSink(), new RecordingSink()]
  await store.reserve(r, { peerId: 'p1', identity: '"alice"' }, 3)
  await store.attach(r, 'p1', 'c1', p1)
  await store.reserve(r, { peerId: 'p2' }, 3)
  await store.attach(r, 'p2', 'c2', p2)
  await store.openSession(r, 'p1', 'token-1')
  await until(() => store.relay(r, 'p2', 'direct?') === 'delivered')
  // Seats in no particular order (a hash's).
  const listing = async (): Promise<unknown> => {
    const found = await store.room(r)
    return { ...found, seats: found?.seats.sort((x, y) => x.peerId.localeCompare(y.peerId)) }
  }
  const before = await listing()
  await own.restart()
  await until(() => store.available, 10_000)
  t.same(await listing(), before, 'the same room: size, creation time, seats, identities, since when')
  t.equal(store.relay(r, 'p1', 'relayed on'), 'delivered')
  t.equal(p2.frames().at(-1), 'relayed on')
  t.same(await store.claim(r, 'token-1', 'token-2', '"alice"'), { ok: true, seat: { peerId: 'p1', identity: '"alice"' } }, 'the session too')
  const p3 = new RecordingSink()
  t.equal(await store.reserve(r, { peerId: 'p3' }, 3), 'joined')
  await store.attach(r, 'p3', 'c3', p3)
  t.same(p3.welcomes.map(({ size, others }) => ({ size, others: others.sort((x, y) => x.peerId.localeCompare(y.peerId)) })),
    [{ size: 3, others: [{ peerId: 'p1', identity: '"alice"' }, { peerId: 'p2' }] }])
  await until(() => p1.events.includes('presence joined') && p2.events.includes('presence joined'))
  t.same(await store.leave(r, 'p2', 'c2'), { left: true, ended: undefined })
  await until(() => p1.events.includes('presence left') && p3.events.includes('presence left'))
  t.notOk(p1.events.includes('end') || p2.events.includes('end') || p3.events.includes('end'), 'nobody was ended')
})

t.test('a call closed while its instance could not hear it is not written back when that instance is back', async t => {
  const [a, b] = [await started(t), await started(t)]
  const r = room()
  const [p1, p2] = [new RecordingSink(), new RecordingSink()]
  await a.reserve(r, { peerId: 'p1' }, 2)
  await a.attach(r, 'p1', 'c1', p1)
  await a.reserve(r, { peerId: 'p2' }, 2)
  await a.attach(r, 'p2', 'c2', p2)
  // Cut from Redis but for its command connection: the dismissal is lost on its way.
  await admin.client('KILL', 'TYPE', 'pubsub')
  t.ok(await b.closeRoom(r, 'over'), 'closed from the other instance')
  await until(() => p1.events.includes('end') && p2.events.includes('end'), 10_000)
  t.equal(await b.room(r), undefined, 'and not written back')
})
