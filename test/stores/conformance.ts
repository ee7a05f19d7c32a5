// The RoomStore contract (lib/stores/store.ts), as a suite any store must pass. Each test gets two
// stores that share their rooms: for an in-process store the same one twice, for Redis two
// instances, so every rule is also checked across instances.
import type { Test } from 'tap'
import type { Dismissal, Frame, PeerSink, PresenceState, QueueLimits, RoomStore, SeatInfo, StoreContext } from '../../lib/index.js'
import { until } from '../helpers/client.js'

/** Makes the stores under test. */
export interface StoreFixture {
  /** Two started stores sharing their rooms; closed when the test ends. */
  open (t: Test, context?: Partial<StoreContext>): Promise<[RoomStore, RoomStore]>
}

/** A PeerSink that records what the store did to it. */
export class RecordingSink implements PeerSink {
  readonly events: string[] = []
  /** What each `welcome` said: the room's size and the other seats. */
  readonly welcomes: Array<{ size: number, others: SeatInfo[] }> = []
  /** The seats PRESENCE changes were about, in order. */
  readonly presences: Array<{ state: PresenceState, peer: SeatInfo }> = []
  welcome (size: number, others: SeatInfo[]): void { this.welcomes.push({ size, others }) }
  deliver (frame: Frame): void { this.events.push(`deliver ${frame.toString()}`) }
  end (): void { this.events.push('end') }
  presence (state: PresenceState, peer: SeatInfo): void {
    this.events.push(`presence ${state}`)
    this.presences.push({ state, peer })
  }

  replace (): void { this.events.push('replace') }
  dismiss (why: Dismissal, reason: string): void { this.events.push(`dismiss ${why} ${reason}`) }
  /** The frames delivered, in order. */
  frames (): string[] {
    return this.events.filter(e => e.startsWith('deliver ')).map(e => e.slice('deliver '.length))
  }
}

/** The context the suite starts stores with, unless a test says otherwise. */
export function testContext (overrides: Partial<StoreContext> = {}): StoreContext {
  const limits: QueueLimits = { maxMessages: 64, maxBytes: 256 * 1024, maxAgeMs: 300_000 }
  const quiet = (): void => {}
  return { limits, graceMs: 30_000, log: { info: quiet, warn: quiet, error: quiet }, ...overrides }
}

let rooms = 0
const room = (): string => `conformance-${process.pid}-${Date.now()}-${++rooms}`
let ids = 0
const id = (kind: string): string => `${kind}${++ids}`

/** One peer of a test: its seat, its connection and what it received. */
interface TestPeer { peerId: string, connectionId: string, sink: RecordingSink }

async function seat (store: RoomStore, roomId: string): Promise<TestPeer> {
  const peer = { peerId: id('peer'), connectionId: id('conn'), sink: new RecordingSink() }
  const result = await store.reserve(roomId, { peerId: peer.peerId }, 2)
  if (result === 'full') throw new Error('room full')
  return peer
}

async function connect (store: RoomStore, roomId: string): Promise<TestPeer> {
  const peer = await seat(store, roomId)
  await store.attach(roomId, peer.peerId, peer.connectionId, peer.sink)
  return peer
}

// Everything a store did to `to` before `from` relayed a marker has been recorded once the
// marker arrives: a barrier for checking that something did not happen.
async function settle (store: RoomStore, roomId: string, from: TestPeer, to: TestPeer): Promise<void> {
  const marker = `marker-${++ids}`
  if (await store.relay(roomId, from.peerId, marker) !== 'delivered') throw new Error('barrier not delivered')
  await until(() => to.sink.frames().includes(marker))
  to.sink.events.splice(to.sink.events.indexOf(`deliver ${marker}`), 1)
}

// p at `a` with a session, suspended (its connection dropped); q at `b`, told so.
async function suspendedPair (a: RoomStore, b: RoomStore): Promise<{ r: string, p: TestPeer, q: TestPeer, token: string }> {
  const r = room()
  const p = await connect(a, r)
  const q = await connect(b, r)
  const { token } = await a.openSession(r, p.peerId, `token-p-${r}`)
  await a.suspend(r, p.peerId, p.connectionId)
  await until(() => q.sink.events.includes('presence reconnecting'))
  return { r, p, q, token }
}

/** Runs the contract's tests against the stores `fixture` makes. */
export function conformance (t: Test, fixture: StoreFixture): void {
  t.test('a store is available once started', async t => {
    const [a, b] = await fixture.open(t)
    t.ok(a.available)
    t.ok(b.available)
  })

  t.test('reserve: created, joined, then full', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    t.equal(await a.reserve(r, { peerId: id('p') }, 2), 'created')
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'joined')
    t.equal(await a.reserve(r, { peerId: id('p') }, 2), 'full')
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'full')
  })

  t.test('reserve: a room is created at the time given (the app\'s room:created and room:ended agree)', async t => {
    const [a] = await fixture.open(t)
    const r = room()
    const p = id('p')
    const at = Date.now() - 5000
    t.equal(await a.reserve(r, { peerId: p }, 2, at), 'created')
    t.match(await a.release(r, p), { createdAt: at })
  })

  t.test('racing reserves from both stores: exactly two seats', async t => {
    const [a, b] = await fixture.open(t)
    for (let round = 0; round < 5; round++) {
      const r = room()
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).reserve(r, { peerId: id('p') }, 2)))
      t.same(results.filter(x => x !== 'full').sort(), ['created', 'joined'], `round ${round}`)
    }
  })

  t.test('release gives back a reserved seat; the room goes with its last one', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p1 = id('p')
    const p2 = id('p')
    await a.reserve(r, { peerId: p1 }, 2)
    await b.reserve(r, { peerId: p2 }, 2)
    t.equal(await b.release(r, p2), undefined, 'the room still has a seat')
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'joined', 'the seat is free again')
    const r2 = room()
    await a.reserve(r2, { peerId: p1 }, 2)
    t.ok(await a.release(r2, p1), 'the last seat deletes the room')
    t.equal(await b.reserve(r2, { peerId: id('p') }, 2), 'created')
  })

  t.test('release of a bound seat does nothing', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    t.equal(await a.release(r, p.peerId), undefined)
    await b.reserve(r, { peerId: id('p') }, 2)
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'full', 'the bound seat still counts')
  })

  t.test('attach: queued frames first, in order, then live ones; the partner hears "joined"', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    for (let i = 0; i < 5; i++) t.equal(await a.relay(r, p.peerId, `queued ${i}`), 'queued')
    const q = await seat(b, r)
    await b.attach(r, q.peerId, q.connectionId, q.sink)
    t.equal(await a.relay(r, p.peerId, 'live'), 'delivered')
    await until(() => q.sink.frames().length === 6)
    t.same(q.sink.frames(), ['queued 0', 'queued 1', 'queued 2', 'queued 3', 'queued 4', 'live'])
    await until(() => p.sink.events.length === 1)
    t.same(p.sink.events, ['presence joined'])
    t.equal(await b.relay(r, q.peerId, 'back to p'), 'delivered')
    await until(() => p.sink.frames().length === 1)
    t.same(p.sink.frames(), ['back to p'])
  })

  t.test('frames relayed while the partner attaches keep their order, none lost', async t => {
    const [a, b] = await fixture.open(t)
    for (let round = 0; round < 5; round++) {
      const r = room()
      const p = await connect(a, r)
      const q = await seat(b, r)
      const relays: Array<Promise<string> | string> = []
      let attached: Promise<void> | undefined
      for (let i = 0; i < 60; i++) {
        if (i === 10 * (round + 1)) attached = b.attach(r, q.peerId, q.connectionId, q.sink)
        relays.push(a.relay(r, p.peerId, `${i}`))
      }
      await attached
      const outcomes = await Promise.all(relays)
      t.ok(outcomes.every(o => o === 'delivered' || o === 'queued'), `round ${round}: every frame handed on`)
      await until(() => q.sink.frames().length === 60)
      t.same(q.sink.frames(), Array.from({ length: 60 }, (_, i) => `${i}`), `round ${round}: in order`)
    }
  })

  t.test('consecutive relays both ways keep each sender\'s order', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    const q = await connect(b, r)
    const sent = Array.from({ length: 200 }, (_, i) => `${i}`)
    const outcomes = await Promise.all(sent.flatMap(n => [a.relay(r, p.peerId, `p${n}`), b.relay(r, q.peerId, `q${n}`)]))
    t.ok(outcomes.every(o => o === 'delivered'))
    await until(() => q.sink.frames().length === 200 && p.sink.frames().length === 200)
    t.same(q.sink.frames(), sent.map(n => `p${n}`))
    t.same(p.sink.frames(), sent.map(n => `q${n}`))
  })

  t.test('relay: queue_full at maxMessages, the oldest kept', async t => {
    const limits = { maxMessages: 3, maxBytes: 1024, maxAgeMs: 300_000 }
    const [a, b] = await fixture.open(t, { limits })
    const r = room()
    const p = await connect(a, r)
    const outcomes = []
    for (let i = 0; i < 5; i++) outcomes.push(await a.relay(r, p.peerId, `${i}`))
    t.same(outcomes, ['queued', 'queued', 'queued', 'queue_full', 'queue_full'])
    const q = await seat(b, r)
    await b.attach(r, q.peerId, q.connectionId, q.sink)
    await until(() => q.sink.frames().length === 3)
    t.same(q.sink.frames(), ['0', '1', '2'])
    t.equal(await a.relay(r, p.peerId, 'after'), 'delivered', 'the queue was emptied by the delivery')
  })

  t.test('relay: queue_full at maxBytes, counting bytes not characters', async t => {
    const limits = { maxMessages: 100, maxBytes: 25, maxAgeMs: 300_000 }
    const [a, b] = await fixture.open(t, { limits })
    const r = room()
    const p = await connect(a, r)
    t.equal(await a.relay(r, p.peerId, Buffer.from('0123456789')), 'queued')
    t.equal(await a.relay(r, p.peerId, 'ééééé'), 'queued', '10 bytes')
    t.equal(await a.relay(r, p.peerId, '0123456'), 'queue_full', '27 bytes would not fit')
    t.equal(await a.relay(r, p.peerId, '01234'), 'queued', '25 bytes fit')
    const q = await seat(b, r)
    await b.attach(r, q.peerId, q.connectionId, q.sink)
    await until(() => q.sink.frames().length === 3)
    t.same(q.sink.frames(), ['0123456789', 'ééééé', '01234'])
  })

  t.test('relay: gone for a missing room or a sender without a seat', async t => {
    const [a, b] = await fixture.open(t)
    t.equal(await a.relay(room(), 'nobody', 'x'), 'gone')
    const r = room()
    await connect(a, r)
    t.equal(await b.relay(r, 'stranger', 'x'), 'gone')
  })

  t.test('expire drops the sender\'s frames older than maxAgeMs, and says when the next expires', async t => {
    const limits = { maxMessages: 64, maxBytes: 1024, maxAgeMs: 60_000 }
    const [a, b] = await fixture.open(t, { limits })
    const r = room()
    const p = await connect(a, r)
    const before = Date.now()
    await a.relay(r, p.peerId, 'old')
    const after = Date.now()
    t.equal((await a.expire(r, p.peerId, after)).dropped, 0, 'nothing is old yet')
    const { nextExpiryAt } = await b.expire(r, p.peerId, after)
    t.ok(nextExpiryAt !== null && nextExpiryAt >= before + 60_000 && nextExpiryAt <= after + 60_000, 'next expiry: queued time + maxAgeMs')
    t.same(await b.expire(r, 'someone else', after + 120_000), { dropped: 0, nextExpiryAt: null }, 'only the sender\'s frames')
    t.same(await b.expire(r, p.peerId, after + 60_001), { dropped: 1, nextExpiryAt: null })
    t.same(await a.expire(room(), p.peerId, after), { dropped: 0, nextExpiryAt: null }, 'a missing room has nothing')
    const q = await seat(b, r)
    await b.attach(r, q.peerId, q.connectionId, q.sink)
    t.equal(await a.relay(r, p.peerId, 'fresh'), 'delivered')
    await until(() => q.sink.frames().length === 1)
    t.same(q.sink.frames(), ['fresh'], 'the expired frame is never delivered')
  })

  t.test('expire keeps the frames that fit the queue again', async t => {
    const limits = { maxMessages: 2, maxBytes: 1024, maxAgeMs: 60_000 }
    const [a] = await fixture.open(t, { limits })
    const r = room()
    const p = await connect(a, r)
    await a.relay(r, p.peerId, '1')
    await a.relay(r, p.peerId, '2')
    t.equal(await a.relay(r, p.peerId, '3'), 'queue_full')
    t.equal((await a.expire(r, p.peerId, Date.now() + 60_001)).dropped, 2)
    t.equal(await a.relay(r, p.peerId, '3'), 'queued', 'room again after the expiry')
  })

  t.test('leave ends the partner, drops the queue and deletes the room', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    const q = await connect(b, r)
    t.same(await b.leave(r, q.peerId, 'not its connection'), { left: false }, 'another connection cannot leave for it')
    t.match(await a.leave(r, p.peerId, p.connectionId), { left: true, ended: { createdAt: Number } }, 'the leave ended the room')
    await until(() => q.sink.events.includes('end'))
    t.same(await b.leave(r, q.peerId, q.connectionId), { left: false }, 'the room is already gone')
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'created', 'the id is free at once')

    const r2 = room()
    const lone = await connect(a, r2)
    await a.relay(r2, lone.peerId, 'never delivered')
    t.match(await a.leave(r2, lone.peerId, lone.connectionId), { left: true, ended: { createdAt: Number } }, 'the leave ended the room')
    const next = await connect(b, r2)
    const other = await connect(a, r2)
    await settle(a, r2, other, next)
    t.same(next.sink.frames(), [], 'the leaver\'s queue went with the room')
  })

  t.test('a second attach replaces the first connection; the partner hears nothing', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    const q = await connect(b, r)
    await until(() => p.sink.events.length === 1)
    p.sink.events.length = 0
    const second = { connectionId: id('conn'), sink: new RecordingSink() }
    await b.attach(r, q.peerId, second.connectionId, second.sink)
    await until(() => q.sink.events.includes('replace'))
    t.same(q.sink.events, ['replace'])
    t.same(await b.leave(r, q.peerId, q.connectionId), { left: false }, 'the replaced connection no longer holds the seat')
    await settle(a, r, p, { ...q, ...second })
    t.same(p.sink.events, [], 'no presence change for the partner')
    t.equal(await b.relay(r, q.peerId, 'from the new one'), 'delivered')
    await until(() => p.sink.frames().length === 1)
  })

  t.test('attach to a seat whose room ended ends the connection', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    const q = await seat(b, r)
    await a.leave(r, p.peerId, p.connectionId)
    await b.attach(r, q.peerId, q.connectionId, q.sink)
    await until(() => q.sink.events.includes('end'))
    t.same(q.sink.events, ['end'])
  })

  t.test('sessions: token, suspend, held seat, queue, claim, comeback', async t => {
    const [a, b] = await fixture.open(t)
    const r = room()
    const p = await connect(a, r)
    const grant = await a.openSession(r, p.peerId, 'token-p-' + r)
    t.same(grant, { token: 'token-p-' + r, others: [] })
    t.same(await a.openSession(r, p.peerId, 'another'), grant, 'the seat keeps its first token')
    const q = await connect(b, r)
    await until(() => p.sink.events.includes('presence joined'))
    t.same(await b.openSession(r, q.peerId, 'token-q-' + r), { token: 'token-q-' + r, others: [{ peerId: p.peerId, state: 'connected' }] })

    t.equal(await a.suspend(r, p.peerId, p.connectionId), true)
    await until(() => q.sink.events.includes('presence reconnecting'))
    t.same(await b.openSession(r, q.peerId, 'x'), { token: 'token-q-' + r, others: [{ peerId: p.peerId, state: 'away' }] })
    for (let i = 0; i < 3; i++) t.equal(await b.relay(r, q.peerId, `while away ${i}`), 'queued')
    t.equal(await b.reserve(r, { peerId: id('p') }, 2), 'full', 'the seat is held')

    t.same(await a.claim(room(), 'token-p-' + r, 'unused', undefined), { ok: false, reason: 'wrong_room' })
    t.same(await b.claim(r, 'unknown', 'unused', undefined), { ok: false, reason: 'unknown_token' })
    t.same(await b.claim(r, 'token-p-' + r, 'token-p2-' + r, undefined), { ok: true, seat: { peerId: p.peerId } })
    t.same(await a.claim(r, 'token-p-' + r, 'again', undefined), { ok: false, reason: 'unknown_token' }, 'a token is good for one resume')

    const back = { connectionId: id('conn'), sink: new RecordingSink() }
    await b.attach(r, p.peerId, back.connectionId, back.sink)
    await until(() => back.sink.frames().length === 3)
    t.same(back.sink.frames(), ['while away 0', 'while away 1', 'while away 2'])
    await until(() => q.sink.events.includes('presence back'))
    t.notOk(p.sink.events.includes('replace'), 'a suspended connection is not replaced')
    t.same(await a.leave(r, p.peerId, p.connectionId), { left: false }, 'the old connection has no say any more')
    t.equal(await b.relay(r, p.peerId, 'hello again'), 'delivered')
    await until(() => q.sink.frames().includes('hello again'))
    t.same(await a.openSession(r, p.peerId, 'x'), { token: 'token-p2-' + r, others: [{ peerId: q.peerId, state: 'connected' }] }, 'the session goes on under the fresh token')

    t.match(await b.leave(r, p.peerId, back.connectionId), { left: true, ended: { createdAt: Number } }, 'the leave ended the room')
    await until(() => q.sink.events.includes('end'))
    t.same(await a.claim(r, 'token-p2-' + r, 'unused', undefined), { ok: false, reason: 'unknown_token' }, 'tokens die with the room')
  })

  t.test('grace running out: leave with the suspended connection ends the partner', async t => {
    const [a, b] = await fixture.open(t)
    const { r, p, q, token } = await suspendedPair(a, b)
    t.match(await a.leave(r, p.peerId, p.connectionId), { left: true, ended: { createdAt: Number } }, 'the leave ended the room')
    await until(() => q.sink.events.includes('end'))
    t.same(await b.claim(r, token, 'unused', undefined), { ok: false, reason: 'unknown_token' })
  })

  t.test('suspend: false when the room is gone or the connection is not the seat\'s', async t => {
    const [a, b] = await fixture.open(t)
    t.equal(await a.suspend(room(), 'nobody', 'nothing'), false)
    const r = room()
    const p = await connect(a, r)
    t.equal(await b.suspend(r, p.peerId, 'another connection'), false)
  })

  t.test('a peer asking for a session while its partner is away hears "away", then "back"', async t => {
    const [a, b] = await fixture.open(t)
    const { r, p, q } = await suspendedPair(a, b)
    t.same((await b.openSession(r, q.peerId, `token-q-${r}`)).others.map(o => o.state), ['away'])
    const back = { connectionId: id('conn'), sink: new RecordingSink() }
    await a.attach(r, p.peerId, back.connectionId, back.sink)
    await until(() => q.sink.events.includes('presence back'))
  })
}
