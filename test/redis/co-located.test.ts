// Rooms whose peers are all connected to one instance relay in process, without Redis
// (issue 14): in order across the switch, back through Redis when a peer elsewhere joins, and
// on while Redis does not answer.
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { redisStore, type RedisStore } from '../../lib/redis.js'
import { until } from '../helpers/client.js'
import { RecordingSink, testContext } from '../stores/conformance.js'
import { coLocatedAndSplit, freshRoom, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const redis = await RedisServer.start(t)

async function started (t: Test): Promise<RedisStore> {
  const store = redisStore({ url: redis.url })
  await store.start(testContext())
  t.teardown(() => store.close())
  return store
}

/** Counts the room scripts Redis runs while `during` runs (MONITOR on a connection of its own). */
async function scriptsRunDuring (during: () => Promise<void>): Promise<number> {
  const client = new Redis(redis.url)
  const monitor = await client.monitor()
  client.disconnect()
  let scripts = 0
  monitor.on('monitor', (_time: string, args: string[]) => { if (/^eval/i.test(args[0])) scripts++ })
  await during()
  await new Promise(resolve => setTimeout(resolve, 100))
  monitor.disconnect()
  return scripts
}

t.test('two peers on one instance: frames go in process once the switch is made, in order, without a script', async t => {
  const store = await started(t)
  const r = freshRoom()
  const p = new RecordingSink()
  const q = new RecordingSink()
  await store.reserve(r, { peerId: 'p' }, 2)
  await store.attach(r, 'p', 'cp', p)
  await store.reserve(r, { peerId: 'q' }, 2)
  await store.attach(r, 'q', 'cq', q)
  // The first frames go through Redis while the switch is made; none overtakes another.
  const sent = Array.from({ length: 200 }, (_, i) => `${i}`)
  await Promise.all(sent.map(async frame => await store.relay(r, 'p', frame)))
  await until(() => q.frames().length === 200)
  t.same(q.frames(), sent, 'in order across the switch')
  await store.relay(r, 'q', 'warm up')
  await until(() => p.frames().length === 1)
  p.events.length = 0
  const before = store.relays()
  const scripts = await scriptsRunDuring(async () => {
    for (let i = 0; i < 100; i++) t.equal(store.relay(r, 'q', `back ${i}`), 'delivered')
  })
  t.equal(scripts, 0, 'no Redis script ran for them')
  t.equal(store.relays().direct - before.direct, 100)
  t.same(p.frames(), Array.from({ length: 100 }, (_, i) => `back ${i}`), 'delivered at once, in order')
})

t.test('a group room goes back through Redis when a peer elsewhere joins, and direct again when it leaves', async t => {
  const [here, there] = [await started(t), await started(t)]
  const r = freshRoom()
  const sinks = { a: new RecordingSink(), b: new RecordingSink(), c: new RecordingSink() }
  for (const peer of ['a', 'b'] as const) {
    await here.reserve(r, { peerId: peer }, 3)
    await here.attach(r, peer, `c-${peer}`, sinks[peer])
  }
  await here.relay(r, 'a', 'warm up')
  await until(() => sinks.b.frames().length === 1)
  await until(() => here.relay(r, 'a', 'direct?') === 'delivered')
  await there.reserve(r, { peerId: 'c' }, 3)
  await there.attach(r, 'c', 'c-c', sinks.c)
  await until(() => sinks.a.presences.some(p => p.state === 'joined' && p.peer.peerId === 'c'))
  t.equal(await here.relay(r, 'a', 'to everyone'), 'delivered')
  await until(() => sinks.c.frames().includes('to everyone'))
  t.ok(sinks.b.frames().includes('to everyone'), 'the local peer too')
  t.same(await there.leave(r, 'c', 'c-c'), { left: true, ended: undefined }, 'the room goes on')
  await until(() => sinks.a.presences.some(p => p.state === 'left' && p.peer.peerId === 'c'))
  const before = here.relays().direct
  await here.relay(r, 'a', 'switching back')
  await until(() => here.relay(r, 'a', 'direct again') === 'delivered' && here.relays().direct > before)
  t.pass('direct again once only local peers are left')
})

t.test('a co-located call keeps relaying while Redis does not answer; a split one is refused', async t => {
  const [a, b] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  const { p1, p2, s1 } = await coLocatedAndSplit(t, a, b)
  redis.pause()
  t.teardown(() => redis.resume())
  for (let i = 0; i < 5; i++) {
    p1.send({ method: 'NOTIFY', data: `while Redis hangs ${i}` })
    t.same(await p2.next(), { method: 'NOTIFY', data: `while Redis hangs ${i}` }, 'co-located: relayed')
    p2.send({ method: 'NOTIFY', data: `back ${i}` })
    t.same(await p1.next(), { method: 'NOTIFY', data: `back ${i}` })
  }
  await until(async () => {
    s1.send({ method: 'NOTIFY', data: 'split' })
    const answer = await s1.next(10_000)
    return answer.code === 'failed'
  }, 20_000)
  t.pass('split: answered failed once Redis is seen not answering')
  redis.resume()
})

/** Two peers of a new room on `store`, the first of which relayed through Redis before the second came. */
async function pairSwitchingLater (t: Test, store: RedisStore): Promise<{ r: string, q: RecordingSink }> {
  const r = freshRoom()
  const q = new RecordingSink()
  await store.reserve(r, { peerId: 'p' }, 2)
  await store.attach(r, 'p', 'cp', new RecordingSink())
  t.equal(await store.relay(r, 'p', 'for the next peer'), 'queued')
  await store.reserve(r, { peerId: 'q' }, 2)
  await store.attach(r, 'q', 'cq', q)
  t.same(q.frames(), ['for the next peer'])
  return { r, q }
}

t.test('a barrier published while the instance\'s subscriber is cut: the frames waiting for it go through Redis', async t => {
  const store = await started(t)
  const { r, q } = await pairSwitchingLater(t, store)
  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  await admin.client('KILL', 'TYPE', 'pubsub')
  const outcome = store.relay(r, 'p', 'after the cut')
  await until(() => q.frames().includes('after the cut'), 10_000)
  t.match(await outcome, /^(queued|delivered)$/, 'not left waiting for a barrier that nobody heard')
})

t.test('a co-located sender that must switch while Redis is down is answered at once, each frame', async t => {
  const own = await RedisServer.start(t)
  const store = redisStore({ url: own.url })
  await store.start(testContext())
  t.teardown(() => store.close())
  const { r } = await pairSwitchingLater(t, store)
  await own.stop()
  for (let i = 0; i < 3; i++) await t.rejects(Promise.resolve(store.relay(r, 'p', `${i}`)), 'refused: Redis is away')
})
