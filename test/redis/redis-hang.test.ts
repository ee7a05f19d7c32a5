// A hung Redis (the process stopped, its connections open): the instances see it within
// seconds, refuse joins with 503, answer frames `failed` without holding them, keep their
// memory bounded, and serve again by themselves once Redis resumes, the calls set up before
// included.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { handshakeStatus, join, sleep, until, type Message, type TestPeer } from '../helpers/client.js'
import type { RunningCli } from '../helpers/cli.js'
import { freshRoom, healthStatus, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const senders = 4
const floodMs = 10_000
// Under the 50 frames/s rate limit, so that every frame reaches the store.
const framesPerSecond = 45
// The frame is 64 KiB (the default maxPayload) with its JSON envelope.
const padding = 'x'.repeat(65_536 - 100)
const rssMarginMiB = 200

/** The resident set size of a process, in MiB. */
async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (match === null) throw new Error('no VmRSS')
  return Number(match[1]) / 1024
}

/** Whether `condition` held within `ms` (checked every 10 ms). */
async function within (ms: number, condition: () => Promise<boolean>): Promise<boolean> {
  return await until(condition, ms).then(() => true, () => false)
}

/** The status of a handshake, or 'no answer' when there is none within `ms`. */
async function handshakeWithin (url: string, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>(resolve => { timer = setTimeout(() => resolve('no answer'), ms) })
  try {
    return await Promise.race([handshakeStatus(url), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** A call whose first peer joins at `a` and second at `b`, both bound to their seats. */
async function call (a: RunningCli, b: RunningCli): Promise<[TestPeer, TestPeer]> {
  const room = freshRoom()
  const first = await join(roomAt(a, room))
  const second = await join(roomAt(b, room))
  second.send({ method: 'NOTIFY', data: 'hello' })
  if ((await first.next()).data !== 'hello') throw new Error('no hello')
  return [first, second]
}

/** Sends 64 KiB NOTIFYs numbered from 0 at `framesPerSecond` until `stop()` says so; returns how many. */
async function flood (peer: TestPeer, stop: () => boolean): Promise<number> {
  let sent = 0
  const started = Date.now()
  while (!stop()) {
    peer.send({ method: 'NOTIFY', data: { i: sent++, padding } })
    const due = started + sent * 1000 / framesPerSecond
    await sleep(Math.max(0, due - Date.now()))
  }
  return sent
}

t.test('a hung Redis: 503 within seconds, frames failed and not held, then serving again', async t => {
  const redis = await RedisServer.start(t)
  t.teardown(() => { try { redis.resume() } catch {} })
  const [a, b] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  const kept = await call(a, b)
  const flooding = await Promise.all(Array.from({ length: senders }, async () => await call(a, b)))
  const pid = a.child.pid!
  const rssBefore = await rssMiB(pid)

  redis.pause()
  let stopping = false
  const floods = flooding.map(([sender]) => flood(sender, () => stopping))
  let rssMax = rssBefore
  const sampling = (async () => {
    while (!stopping) {
      rssMax = Math.max(rssMax, await rssMiB(pid))
      await sleep(100)
    }
  })()

  t.ok(await within(10_000, async () => await healthStatus(a) === 503 && await healthStatus(b) === 503),
    'both instances answer /health with 503 within seconds')
  t.equal(await handshakeWithin(roomAt(a, freshRoom()), 5000), 503, 'a join is refused with 503, not held')
  await sleep(floodMs)
  stopping = true
  const sent = await Promise.all(floods)
  await sampling
  t.comment(`RSS of the flooded instance: ${rssBefore.toFixed(0)} MiB before, at most ${rssMax.toFixed(0)} MiB during`)
  t.ok(rssMax - rssBefore < rssMarginMiB, `RSS grew by less than ${rssMarginMiB} MiB`)
  for (const [sender] of flooding) {
    const refusals = sender.pending().filter(m => m.code === 'failed')
    t.ok(refusals.length > 0, 'a sender hears `failed` while Redis hangs')
    // docs/protocol.md#failure-reasons
    const reasons = new Set(refusals.map(m => m.reason))
    t.ok(reasons.has('the server cannot reach its room store'), 'saying the store does not answer')
    t.notOk(reasons.has('internal error'), 'never as an internal error')
  }

  redis.resume()
  t.ok(await within(15_000, async () => await healthStatus(a) === 200 && await healthStatus(b) === 200),
    'both instances serve again once Redis resumes')
  const [c1, c2] = await call(a, b)
  c1.send({ method: 'NOTIFY', data: 'new call' })
  t.same(await c2.next(), { method: 'NOTIFY', data: 'new call' }, 'a join after the hang works')
  const [k1, k2] = kept
  k1.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await k2.next(), { method: 'NOTIFY', data: 'still here' }, 'a call set up before the hang relays on')
  k2.send({ method: 'NOTIFY', data: 'and back' })
  t.same(await k1.next(), { method: 'NOTIFY', data: 'and back' })

  // Every frame not answered `failed` reached the partner, in order.
  for (let i = 0; i < senders; i++) {
    const [sender, partner] = flooding[i]
    const marker = `end of flood ${i}`
    sender.send({ method: 'NOTIFY', data: marker })
    const received: Message[] = []
    for (let m = await partner.next(); m.data !== marker; m = await partner.next()) received.push(m)
    const failed = sender.pending().filter(m => m.code === 'failed').length
    const indices = received.map(m => (m.data as { i: number }).i)
    t.ok(indices.length >= sent[i] - failed, `flood ${i}: ${indices.length} of ${sent[i]} frames arrived, ${failed} were answered failed`)
    t.ok(indices.every((n, k) => k === 0 || n > indices[k - 1]), `flood ${i}: in order`)
  }
  t.equal(a.child.exitCode, null, 'instance a never exited')
  t.equal(b.child.exitCode, null, 'instance b never exited')
})
