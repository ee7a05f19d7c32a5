// Property-based fuzzing: every frame sent into a live room is either relayed exactly (a valid
// NOTIFY) or answered (a GET, or failed); the partner never sees anything else.
import fc from 'fast-check'
import t from 'tap'
import { join, until, type TestPeer } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'

type Expectation =
  | { kind: 'relayed', value: Record<string, unknown> }
  | { kind: 'answered', code: 'success' | 'failed', msgId: { echoed: boolean, value?: unknown } }

const own = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key)
// Members of the server's own answers: a relayed NOTIFY never carries them (docs/protocol.md).
const serverMembers = ['code', 'result', 'reason']

// The oracle, written from docs/protocol.md rather than from the implementation.
function expectationOf (frame: string): Expectation {
  let value: unknown
  try {
    value = JSON.parse(frame)
  } catch {
    return { kind: 'answered', code: 'failed', msgId: { echoed: false } }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'answered', code: 'failed', msgId: { echoed: false } }
  }
  const o = value as Record<string, unknown>
  const msgId = own(o, 'msg_id') ? { echoed: true, value: o.msg_id } : { echoed: false }
  if (o.method === 'NOTIFY' && own(o, 'data')) {
    const relayed: Record<string, unknown> = Object.create(null)
    for (const key of Object.keys(o)) if (!serverMembers.includes(key)) relayed[key] = o[key]
    return { kind: 'relayed', value: relayed }
  }
  if (o.method === 'GET' && (o.resource === '/peerconnection' || o.resource === '/session')) {
    return { kind: 'answered', code: 'success', msgId }
  }
  return { kind: 'answered', code: 'failed', msgId }
}

const occurrences = (text: string, part: string): number => text.split(part).length - 1

/**
 * Whether relaying `sent` as `received` is right: the same members (less the server's own);
 * and the very bytes only when no parser could read them otherwise than JSON.parse does (no
 * member written twice or with escapes), else the frame written anew.
 */
function relayedRight (sent: string, received: string, expected: Record<string, unknown>): boolean {
  if (!sameJson(JSON.parse(received), expected)) return false
  if (depthOf(expected) > 1000 || received === JSON.stringify(expected)) return true
  return received === sent && Object.keys(JSON.parse(sent) as object).every(key => !serverMembers.includes(key)) &&
    occurrences(sent, '"method"') === 1 && occurrences(sent, '"data"') === 1 && !sent.includes('\\u')
}

// Nesting depth, without recursion (values here may be 20,000 deep).
function depthOf (value: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    max = Math.max(max, d)
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, d + 1])
  }
  return max
}

function sameJson (a: unknown, b: unknown): boolean {
  return depthOf(a) < 1000 ? JSON.stringify(a) === JSON.stringify(b) : depthOf(a) === depthOf(b)
}

const nested = (depth: number, leaf: string): string => '['.repeat(depth) + leaf + ']'.repeat(depth)
const jsonText = (v: unknown): string => JSON.stringify(v)

const methods = fc.constantFrom('NOTIFY', 'GET', 'notify', 'get', 'POST', 'PRESENCE', '', 'NOTIFY ', '__proto__')
const resources = fc.constantFrom('/peerconnection', '/session', '/PEERCONNECTION', '/', '', '/peerconnection/')
const msgIds = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant(Number.MAX_SAFE_INTEGER * 1024),
  fc.constant('m'.repeat(20000)),
  fc.constant(1e308)
)
// Member names as written in the frame: a few spell a real member twice, or with escapes.
const extraKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra', 'toString', 'hasOwnProperty', 'Data', 'msg_id ',
  'to', 'code', 'result', 'reason', 'method', 'data').map(jsonText)
const escapedKeys = fc.constantFrom('"\\u006dethod"', '"dat\\u0061"', '"\\u0063ode"')

/** Objects that are nearly frames, serialized by hand so that keys like __proto__ survive. */
const nearFrames = fc.record({
  method: fc.option(fc.oneof(methods, fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
  resource: fc.option(fc.oneof(resources, fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
  data: fc.option(fc.jsonValue({ maxDepth: 4 }), { nil: undefined }),
  msgId: fc.option(msgIds, { nil: undefined }),
  extras: fc.array(fc.tuple(fc.oneof(extraKeys, escapedKeys), fc.jsonValue({ maxDepth: 2 })), { maxLength: 2 })
}).map(f => {
  const parts: string[] = []
  if (f.method !== undefined) parts.push(`"method":${jsonText(f.method)}`)
  if (f.resource !== undefined) parts.push(`"resource":${jsonText(f.resource)}`)
  if (f.data !== undefined) parts.push(`"data":${jsonText(f.data)}`)
  if (f.msgId !== undefined) parts.push(`"msg_id":${jsonText(f.msgId)}`)
  for (const [key, value] of f.extras) parts.push(`${key}:${jsonText(value)}`)
  return `{${parts.join(',')}}`
})

const deepFrames = fc.tuple(fc.integer({ min: 1, max: 20000 }), fc.constantFrom('data', 'msg_id', 'method')).map(([depth, key]) =>
  key === 'data'
    ? `{"method":"NOTIFY","data":${nested(depth, '1')}}`
    : key === 'msg_id'
      ? `{"method":"GET","resource":"/peerconnection","msg_id":${nested(depth, '"x"')}}`
      : `{"method":${nested(depth, '0')}}`)

const frames = fc.oneof(
  { arbitrary: fc.string({ maxLength: 200 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 100 }), weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map(jsonText), weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }).map(data => jsonText({ method: 'NOTIFY', data })), weight: 2 },
  { arbitrary: nearFrames, weight: 6 },
  { arbitrary: deepFrames, weight: 1 }
)

// A GET with a fresh msg_id marks the end of what one frame caused: everything a peer receives
// before its answer was caused by the frame before it.
let marker = 0
async function framesUntilMarker (sender: TestPeer): Promise<Array<Record<string, unknown>>> {
  const id = `marker-${++marker}`
  sender.send({ method: 'GET', resource: '/peerconnection', msg_id: id })
  const got: Array<Record<string, unknown>> = []
  for (;;) {
    const m = await sender.next()
    if (m.msg_id === id) return got
    got.push(m)
  }
}

t.test('every frame is relayed exactly or answered; the partner never receives a bad frame', async t => {
  const server = await startServer(t, { messageRate: 1e9, messageBurst: 1e9, ipMessageRate: 0, ipByteRate: 0 })
  const room = freshRoom()
  const sender = await join(server.room(room))
  const partner = await join(server.room(room))
  // What the partner receives, as text: a relayed frame must be exactly what was sent.
  const received: string[] = []
  partner.socket.on('message', data => received.push(data.toString()))
  let relayed = 0
  let answered = 0

  await fc.assert(fc.asyncProperty(frames, async frame => {
    sender.send(frame)
    // GET /session also tells the sender about its partner (PRESENCE); that is not an answer.
    const answers = (await framesUntilMarker(sender)).filter(m => m.method !== 'PRESENCE')
    // What the server reads: a lone surrogate in a string goes out as U+FFFD in UTF-8.
    const expected = expectationOf(Buffer.from(frame).toString())
    if (expected.kind === 'relayed') {
      relayed++
      if (answers.length !== 0) return false
      await until(() => received.length >= relayed)
      return received.length === relayed && relayedRight(Buffer.from(frame).toString(), received[relayed - 1], expected.value)
    }
    answered++
    if (answers.length !== 1) return false
    const answer = answers[0]
    const echoed = Object.prototype.hasOwnProperty.call(answer, 'msg_id')
    if (answer.code !== expected.code || echoed !== expected.msgId.echoed) return false
    if (echoed && !sameJson(answer.msg_id, expected.msgId.value)) return false
    return received.length === relayed
  }), { numRuns: 3000, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) })

  t.ok(relayed > 100, `relayed ${relayed} valid NOTIFYs`)
  t.ok(answered > 1000, `answered ${answered} other frames`)
  t.equal((await sender.get('/peerconnection', 'after')).code, 'success', 'the server answers a fresh GET afterwards')
  sender.send({ method: 'NOTIFY', data: 'still relaying' })
  await until(() => received.length > relayed)
  t.same(received.slice(relayed), ['{"method":"NOTIFY","data":"still relaying"}'])
})
