// The Redis store on a real three-master Redis Cluster: the RoomStore contract with two instances,
// then what a cluster changes: rooms on every master, keys in many slots, a PUBLISH that counts
// only its own node's subscribers.
import { Cluster, Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { StoreContext } from '../../lib/index.js'
import { redisStore, type RedisStore, type RedisStoreOptions } from '../../lib/redis.js'
import { until } from '../helpers/client.js'
import { conformance, RecordingSink, testContext } from '../stores/conformance.js'
import { RedisCluster } from './redis-cluster.js'

const cluster = await RedisCluster.start(t)

conformance(t, {
  async open (t, context) {
    return [await started(t, {}, context), await started(t, {}, context)]
  }
})

/** A started Redis store on the cluster, closed when `t` ends. */
async function started (t: Test, options: Partial<RedisStoreOptions> = {}, context?: Partial<StoreContext>): Promise<RedisStore> {
  // One node is enough for the store to find the others.
  const store = redisStore({ cluster: [cluster.urls[0]], ...options })
  await store.start(testContext(context))
  t.teardown(() => store.close())
  return store
}

let rooms = 0
const room = (): string => `cluster-store-${++rooms}`

/** A call in room `r`: peer p (connection `cp-<r>`) at store `at`, peer q (`cq-<r>`) at `with`; what each received. */
async function call (r: string, at: RedisStore, with_: RedisStore): Promise<{ p: RecordingSink, q: RecordingSink }> {
  const sinks = { p: new RecordingSink(), q: new RecordingSink() }
  for (const [peer, store] of [['p', at], ['q', with_]] as const) {
    await store.reserve(r, { peerId: peer }, 2)
    await store.attach(r, peer, `c${peer}-${r}`, sinks[peer])
  }
  return sinks
}

t.test('rooms() lists the rooms of every master', async t => {
  const prefix = 'listing-test:'
  const [a, b] = [await started(t, { prefix }), await started(t, { prefix })]
  const ids = await cluster.roomsOnEveryMaster('listed', 30)
  for (const [i, id] of ids.entries()) {
    await (i % 2 === 0 ? a : b).reserve(id, { peerId: 'p1' }, 2)
    await (i % 2 === 0 ? a : b).attach(id, 'p1', `c-${id}`, new RecordingSink())
  }
  const byNode = await cluster.keysByMaster(`${prefix}{listed-*`)
  t.equal(byNode.size, 3)
  for (const [port, keys] of byNode) t.ok(keys.length > 0, `master ${port} holds some of the rooms`)
  for (const store of [a, b]) {
    const listed = []
    for await (const listing of store.rooms()) listed.push(listing.roomId)
    t.same(listed.sort(), [...ids].sort(), 'every room, once')
  }
  t.match(await b.room('listed-3'), { roomId: 'listed-3', size: 2, seats: [{ peerId: 'p1', state: 'connected' }] })
})

t.test('a frame for a peer at the other instance is delivered once, whichever master holds the room', async t => {
  const [a, b] = [await started(t), await started(t)]
  for (const r of await cluster.roomsOnEveryMaster('split')) {
    const { p, q } = await call(r, a, b)
    t.equal(await a.relay(r, 'p', 'to q'), 'delivered', `${r}: delivered, not queued`)
    t.equal(await b.relay(r, 'q', 'to p'), 'delivered')
    t.equal(await a.relay(r, 'p', 'again'), 'delivered')
    await until(() => q.frames().length === 2 && p.frames().length === 1)
    await b.leave(r, 'q', `cq-${r}`)
    await until(() => p.events.includes('end'))
    t.same(q.frames(), ['to q', 'again'], 'once each')
    t.same(p.frames(), ['to p'])
  }
})

t.test('a room whose peers are on one instance switches to the in-process relay in order, whichever master holds it', async t => {
  const store = await started(t)
  for (const r of await cluster.roomsOnEveryMaster('local')) {
    const { q } = await call(r, store, store)
    const before = store.relays().direct
    // The first frames go through Redis while the switch is made; none overtakes another.
    const sent = Array.from({ length: 100 }, (_, i) => `${i}`)
    await Promise.all(sent.map(async frame => await store.relay(r, 'p', frame)))
    await until(() => q.frames().length === 100)
    t.same(q.frames(), sent, `${r}: in order across the switch`)
    t.ok(store.relays().direct > before, 'then in process')
  }
})

t.test('calls with sessions come and go across masters: no room, token or instance key is left', async t => {
  const prefix = 'leftover-test:'
  const [a, b] = [await started(t, { prefix }), await started(t, { prefix })]
  for (let i = 0; i < 30; i++) {
    const r = room()
    const { q } = await call(r, a, b)
    // Two tokens in the room: deleted with it, each in a slot of its own.
    await a.openSession(r, 'p', `token-a-${i}`)
    await b.openSession(r, 'q', `token-b-${i}`)
    await a.leave(r, 'p', `cp-${r}`)
    await until(() => q.events.includes('end'))
  }
  const leftOver = async (): Promise<string[]> =>
    [...(await cluster.keysByMaster(`${prefix}*`)).values()].flat().filter(key => !/^leftover-test:instances?(:[^:]+)?$/.test(key))
  await until(async () => (await leftOver()).length === 0).catch(() => {})
  t.same(await leftOver(), [], 'no room, queue, token or instance room set left')
  await Promise.all([a.close(), b.close()])
  t.same([...(await cluster.keysByMaster(`${prefix}*`)).values()].flat(), [], 'closed instances leave nothing either')
})

t.test('an instance gone with bound seats: the others end its calls', async t => {
  const survivor = await started(t, { livenessMs: 600 })
  const gone = redisStore({ cluster: cluster.urls, livenessMs: 600 })
  await gone.start(testContext())
  const r = room()
  const { q } = await call(r, gone, survivor)
  // Said goodbye with a seat held: the survivor reaps it, its marker and room set in other slots.
  await gone.close()
  await until(() => q.events.includes('end'), 10_000)
  t.equal(await survivor.reserve(r, { peerId: 'p3' }, 2), 'created', 'the room was deleted')
})

t.test('frames published while the subscribers on every master are cut are queued, then delivered in order', async t => {
  const [a, b] = [await started(t), await started(t)]
  const calls = await Promise.all((await cluster.roomsOnEveryMaster('cut', 6)).map(async r => ({ r, ...await call(r, a, b) })))
  await Promise.all(cluster.urls.map(async url => {
    const node = new Redis(url)
    await node.client('KILL', 'TYPE', 'pubsub')
    node.disconnect()
  }))
  const sent = Array.from({ length: 10 }, (_, i) => `${i}`)
  const outcomes = await Promise.all(calls.flatMap(({ r }) => sent.map(async frame => await b.relay(r, 'q', frame))))
  t.ok(outcomes.every(o => o === 'queued' || o === 'delivered'))
  t.ok(outcomes.includes('queued'), 'with nobody subscribed, frames wait in the queues')
  for (const { r, p } of calls) {
    await until(() => p.frames().length === sent.length, 10_000)
    t.same(p.frames(), sent, r)
  }
  await until(() => a.available && b.available)
  for (const { r } of calls) t.equal(await b.relay(r, 'q', 'live again'), 'delivered')
})

t.test('redisStore({ client }) takes a Cluster client\'s settings and leaves the client untouched', async t => {
  const client = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[1].port }])
  t.teardown(() => client.quit())
  const store = redisStore({ client })
  await store.start(testContext())
  const other = await started(t)
  const r = room()
  t.equal(await store.reserve(r, { peerId: 'p1' }, 2), 'created')
  t.equal(await other.reserve(r, { peerId: 'p2' }, 2), 'joined', 'both stores share the rooms')
  t.notOk('rtcNotifyReserve' in client, 'no command defined on the caller\'s client')
  await store.close()
  t.equal(await client.set('untouched', '1'), 'OK', 'the caller\'s client is still usable')
})

t.test('the cluster option wants redis:// URLs', async t => {
  const invalid = (message: RegExp): { code: string, message: RegExp } => ({ code: 'FST_RTC_NOTIFY_INVALID_OPTION', message })
  t.throws(() => redisStore({ cluster: [] }), invalid(/"cluster": expected the URL of at least one node/))
  t.throws(() => redisStore({ cluster: ['127.0.0.1:7000'] }), invalid(/"cluster": expected redis:\/\/ URLs/))
  t.throws(() => redisStore({ cluster: cluster.urls, url: cluster.urls[0] }), invalid(/exactly one of/))
})
