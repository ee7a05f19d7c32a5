// Attack 3, a hung Redis (issue 10, defect 2): the server runs with --redis on a throwaway
// redis-server; a call relays, and 4 senders (two rooms, each peer from its own address) keep
// sending 64 KB NOTIFYs. Then redis-server is stopped with SIGSTOP: its process hangs with its
// TCP connections open, so nothing but a timeout tells the server. Measured: how long until
// /health answers 503 and a new join is refused with 503, the server's RSS while the senders go
// on for the length of the stall, what the senders were answered meanwhile; then, after SIGCONT,
// how long until /health answers 200 again and a new call relays, and whether the calls from
// before the stall still relay.
import { performance } from 'node:perf_hooks'
import {
  RssSampler, bigFrameBytes, count, msSince, newCounts, notifyOf, openPair, openPeer, health, rssMiB, sendAtRate, sleep,
  startRedis, startServer, tally
} from './attack-tools.js'

/**
 * @param {object} options
 * @param {string} options.projectDir the checkout attacked
 * @param {number} [options.stallSeconds] how long redis-server stays stopped
 * @param {number} [options.senders] peers sending 64 KB frames throughout (two per room)
 * @param {number} [options.fps] frames per second each sends
 * @param {string} [options.redisServer] the redis-server binary
 */
export async function hungRedis ({ projectDir, stallSeconds = 15, senders = 4, fps = 45, redisServer }) {
  const redis = await startRedis(redisServer)
  let server
  const cleanups = []
  try {
    server = await startServer(['--redis', redis.url], projectDir)
    const call = await openPair(server.url, 'redis-call', { localAddress: '127.0.0.30' })
    cleanups.push(() => call.forEach(ws => ws.terminate()))
    const callRelaysBeforeMs = await relayTime(call, 2000)
    const flood = await startSenders(server.url, senders, fps)
    cleanups.push(flood.stop)
    await sleep(3000)
    const rssBeforeMiB = rssMiB(server.pid)
    const before = flood.take()

    // The stall: Redis hangs, the senders go on.
    const sampler = new RssSampler(server.pid)
    redis.pause()
    const stoppedAt = performance.now()
    const limitMs = stallSeconds * 1000
    const [healthDown, joinRefused] = await Promise.all([
      healthUntil(server.url, status => status === 503, stoppedAt, limitMs),
      joinUntilRefused(server.url, stoppedAt, limitMs)
    ])
    await sleep(limitMs - msSince(stoppedAt))
    const { peakMiB, series } = sampler.stop()
    const rssEndOfStallMiB = rssMiB(server.pid)
    const during = flood.take()

    // Redis comes back.
    redis.resume()
    const resumedAt = performance.now()
    const [healthUp, newCall] = await Promise.all([
      healthUntil(server.url, status => status === 200, resumedAt, 20000),
      callUntilRelayed(server.url, resumedAt, 20000)
    ])
    const callRelaysAfterMs = await relayTime(call, 3000)
    await sleep(2000)
    const after = flood.take()
    return {
      server: server.command,
      redis: redis.command,
      config: { stallSeconds, senders, fps, frameBytes: bigFrameBytes, sendersFrom: '127.0.0.31..34', callFrom: '127.0.0.30', probesFrom: '127.0.0.40' },
      callRelaysBeforeMs,
      rssBeforeMiB,
      rssPeakDuringStallMiB: peakMiB,
      rssEndOfStallMiB,
      healthDown,
      joinRefused,
      healthUp,
      newCall,
      callRelaysAfterMs,
      senders: { before, during, after },
      rssSeries: series
    }
  } finally {
    for (const cleanup of cleanups) cleanup()
    await server?.stop()
    await redis.stop()
  }
}

/**
 * Milliseconds for a small NOTIFY from the first peer of a pair to reach the second, or null
 * when it did not within `timeoutMs` (or the pair is closed).
 */
function relayTime ([from, to], timeoutMs) {
  if (from.readyState !== from.OPEN || to.readyState !== to.OPEN) return Promise.resolve(null)
  const marker = `mark-${Math.random().toString(36).slice(2)}`
  const sentAt = performance.now()
  return new Promise(resolve => {
    const onMessage = data => {
      if (!data.toString().includes(marker)) return
      done(msSince(sentAt))
    }
    const done = result => {
      clearTimeout(timer)
      to.off('message', onMessage)
      resolve(result)
    }
    const timer = setTimeout(() => done(null), timeoutMs)
    to.on('message', onMessage)
    from.send(`{"method":"NOTIFY","data":"${marker}"}`)
  })
}

/**
 * `senders` peers in rooms of two, each from its own address (127.0.0.31 on), each sending
 * 64 KB frames at `fps` from now on. `take()` gives the counts since the last take (and the
 * close codes of the peers closed meanwhile); `stop()` ends them.
 */
async function startSenders (base, senders, fps) {
  const frame = Buffer.from(notifyOf(bigFrameBytes))
  // One object for all, emptied in place at each take: the senders keep counting into it.
  const counts = { ...newCounts(), closeCodes: {} }
  const peers = []
  const stops = []
  for (let i = 0; i < senders; i++) {
    const ws = await openPeer(base, `/call/redis-flood-${i >> 1}`, { localAddress: `127.0.0.${31 + i}` })
    ws.on('message', data => tally(data, counts))
    ws.once('close', code => count(counts.closeCodes, code))
    peers.push(ws)
  }
  // Both peers of every room are in before anyone sends: nothing is queued for an absent peer.
  for (const ws of peers) stops.push(sendAtRate(ws, frame, fps, counts))
  return {
    take () {
      const out = { ...structuredClone(counts), open: peers.filter(ws => ws.readyState === ws.OPEN).length }
      Object.assign(counts, newCounts(), { closeCodes: {} })
      return out
    },
    stop () {
      for (const stop of stops) stop()
      for (const ws of peers) ws.terminate()
    }
  }
}

/**
 * Polls /health every 100 ms (each request on a fresh connection, given 1 s) until `wanted`
 * says yes of its status or `limitMs` passes. Returns when (ms after `t0`), and every change of
 * answer seen on the way ('timeout' when a request got none within its second).
 */
async function healthUntil (base, wanted, t0, limitMs) {
  const changes = []
  let last
  while (msSince(t0) < limitMs) {
    const status = await health(base, 1000)
    if (status !== last) changes.push({ ms: msSince(t0), status })
    last = status
    if (wanted(status)) return { ms: msSince(t0), changes }
    await sleep(100)
  }
  return { ms: null, changes }
}

/**
 * Tries a new join every 250 ms (each given 10 s) until one is refused with 503 or `limitMs`
 * passes. Returns when the refusal came (ms after `t0`) and every attempt: when it started,
 * when it ended, and how (an HTTP status, 'opened', 'timeout').
 */
async function joinUntilRefused (base, t0, limitMs) {
  const attempts = []
  for (let k = 0; msSince(t0) < limitMs; k++) {
    const startMs = msSince(t0)
    let outcome
    try {
      const ws = await openPeer(base, `/call/redis-join-${k}`, { localAddress: '127.0.0.40', timeoutMs: 10000 })
      ws.terminate()
      outcome = 'opened'
    } catch (err) {
      outcome = err.status
    }
    attempts.push({ startMs, endMs: msSince(t0), outcome })
    if (outcome === 503) return { ms: msSince(t0), attempts }
    await sleep(250)
  }
  return { ms: null, attempts }
}

/**
 * Tries a new call every 250 ms (two peers join a fresh room, one sends a small NOTIFY; each
 * attempt given 5 s to join and 3 s to relay) until one relays or `limitMs` passes. Returns
 * when it relayed (ms after `t0`) and how the attempts before it ended.
 */
async function callUntilRelayed (base, t0, limitMs) {
  const failures = {}
  for (let k = 0; msSince(t0) < limitMs; k++) {
    let pair
    try {
      pair = await openPair(base, `redis-new-${k}`, { localAddress: '127.0.0.40', timeoutMs: 5000 })
      const ms = await relayTime(pair, 3000)
      if (ms !== null) return { ms: msSince(t0), attempts: k + 1, failures }
      count(failures, 'not relayed')
    } catch (err) {
      count(failures, err.status)
    } finally {
      pair?.forEach(ws => ws.terminate())
    }
    await sleep(250)
  }
  return { ms: null, attempts: null, failures }
}
