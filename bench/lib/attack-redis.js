// Attack 3, a hung Redis (issue 10, defect 2): two instances of the server (A and B) share rooms
// through a throwaway redis-server. A call on A alone, a call across A and B, and 4 senders in
// two rooms across A and B (each peer from its own address) that keep sending 64 KB NOTIFYs:
// every frame of a room across instances goes through Redis (a room whose peers are all on one
// instance does without it). Then redis-server is stopped with SIGSTOP: its process hangs with
// its TCP connections open, so nothing but a timeout tells the servers. Measured on A: how long
// until /health answers 503 and a new join is refused with 503; the RSS of A and B while the
// senders go on for the length of the stall, and what the senders were answered; whether each
// call relays during the stall. Then, after SIGCONT: how long until /health answers 200 again
// and a new call across A and B relays, and whether the calls from before relay again.
import { performance } from 'node:perf_hooks'
import {
  RssSampler, bigFrameBytes, count, msSince, newCounts, notifyOf, openPair, openPeer, health, rssMiB, sendAtRate, sleep,
  startRedis, startServer, tally
} from './attack-tools.js'

/**
 * @param {object} options
 * @param {string} options.projectDir the checkout attacked
 * @param {number} [options.stallSeconds] how long redis-server stays stopped
 * @param {number} [options.senders] peers sending 64 KB frames throughout (two per room, one on each instance)
 * @param {number} [options.fps] frames per second each sends
 * @param {string} [options.redisServer] the redis-server binary
 */
export async function hungRedis ({ projectDir, stallSeconds = 15, senders = 4, fps = 45, redisServer }) {
  const redis = await startRedis(redisServer)
  const servers = []
  const cleanups = []
  try {
    for (let i = 0; i < 2; i++) servers.push(await startServer(['--redis', redis.url], projectDir))
    const [a, b] = servers
    const localCall = await openPair(a.url, 'redis-local-call', { localAddress: '127.0.0.30' })
    const splitCall = await crossPair(a.url, b.url, 'redis-split-call', '127.0.0.30')
    cleanups.push(() => [...localCall, ...splitCall].forEach(ws => ws.terminate()))
    const relaysBefore = { localMs: await relayTime(localCall, 2000), splitMs: await relayTime(splitCall, 2000) }
    const flood = await startSenders(a.url, b.url, senders, fps)
    cleanups.push(flood.stop)
    await sleep(3000)
    const rssBeforeMiB = { a: rssMiB(a.pid), b: rssMiB(b.pid) }
    const before = flood.take()

    // The stall: Redis hangs, the senders go on.
    const samplers = { a: new RssSampler(a.pid), b: new RssSampler(b.pid) }
    redis.pause()
    const stoppedAt = performance.now()
    const limitMs = stallSeconds * 1000
    const [healthDown, joinRefused, relaysDuring] = await Promise.all([
      healthUntil(a.url, status => status === 503, stoppedAt, limitMs),
      joinUntilRefused(a.url, stoppedAt, limitMs),
      // Once the servers have seen that Redis hangs (a few seconds), do the calls still relay?
      sleep(5000).then(async () => ({ localMs: await relayTime(localCall, 2000), splitMs: await relayTime(splitCall, 2000) }))
    ])
    await sleep(limitMs - msSince(stoppedAt))
    const peaks = { a: samplers.a.stop(), b: samplers.b.stop() }
    const rssEndOfStallMiB = { a: rssMiB(a.pid), b: rssMiB(b.pid) }
    const during = flood.take()

    // Redis comes back.
    redis.resume()
    const resumedAt = performance.now()
    const [healthUp, newCall] = await Promise.all([
      healthUntil(a.url, status => status === 200, resumedAt, 20000),
      callUntilRelayed(a.url, b.url, resumedAt, 20000)
    ])
    const relaysAfter = { localMs: await relayTime(localCall, 3000), splitMs: await relayTime(splitCall, 3000) }
    await sleep(2000)
    const after = flood.take()
    return {
      servers: servers.map(s => s.command),
      redis: redis.command,
      config: { stallSeconds, senders, fps, frameBytes: bigFrameBytes, sendersFrom: `127.0.0.31..${30 + senders}`, callsFrom: '127.0.0.30', probesFrom: '127.0.0.40' },
      relaysBefore,
      rssBeforeMiB,
      rssPeakDuringStallMiB: { a: peaks.a.peakMiB, b: peaks.b.peakMiB },
      rssEndOfStallMiB,
      healthDown,
      joinRefused,
      relaysDuring,
      healthUp,
      newCall,
      relaysAfter,
      senders: { before, during, after },
      rssSeries: { a: peaks.a.series, b: peaks.b.series }
    }
  } finally {
    for (const cleanup of cleanups) cleanup()
    for (const server of servers) await server.stop()
    await redis.stop()
  }
}

/** Two peers of `room`, the first on the server at `baseA`, the second on the one at `baseB`. */
async function crossPair (baseA, baseB, room, localAddress, timeoutMs) {
  const first = await openPeer(baseA, `/call/${room}`, { localAddress, timeoutMs })
  try {
    return [first, await openPeer(baseB, `/call/${room}`, { localAddress, timeoutMs })]
  } catch (err) {
    first.terminate()
    throw err
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
 * `senders` peers in rooms of two, the first of each room on the server at `baseA`, the second
 * on the one at `baseB`, each from its own address (127.0.0.31 on), each sending 64 KB frames
 * at `fps` from now on. `take()` gives the counts since the last take (and the close codes of
 * the peers closed meanwhile); `stop()` ends them.
 */
async function startSenders (baseA, baseB, senders, fps) {
  const frame = Buffer.from(notifyOf(bigFrameBytes))
  // One object for all, emptied in place at each take: the senders keep counting into it.
  const counts = { ...newCounts(), closeCodes: {} }
  const peers = []
  const stops = []
  for (let i = 0; i < senders; i++) {
    const ws = await openPeer(i % 2 === 0 ? baseA : baseB, `/call/redis-flood-${i >> 1}`, { localAddress: `127.0.0.${31 + i}` })
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
 * Tries a new join every 250 ms (each given 10 s, and never past `limitMs`) until one is
 * refused with 503 or `limitMs` passes. Returns when the refusal came (ms after `t0`) and every attempt: when it started,
 * when it ended, and how (an HTTP status, 'opened', 'timeout').
 */
async function joinUntilRefused (base, t0, limitMs) {
  const attempts = []
  for (let k = 0; msSince(t0) < limitMs; k++) {
    const startMs = msSince(t0)
    let outcome
    try {
      // No attempt outlasts the stall: what is measured is the hung store, not the one back.
      const timeoutMs = Math.min(10000, limitMs - startMs)
      const ws = await openPeer(base, `/call/redis-join-${k}`, { localAddress: '127.0.0.40', timeoutMs })
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
 * Tries a new call across the two servers every 250 ms (a peer joins a fresh room on each, the
 * first sends a small NOTIFY; each attempt given 5 s per join and 3 s to relay) until one
 * relays or `limitMs` passes. Returns when it relayed (ms after `t0`) and how the attempts
 * before it ended.
 */
async function callUntilRelayed (baseA, baseB, t0, limitMs) {
  const failures = {}
  for (let k = 0; msSince(t0) < limitMs; k++) {
    let pair
    try {
      pair = await crossPair(baseA, baseB, `redis-new-${k}`, '127.0.0.40', 5000)
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
