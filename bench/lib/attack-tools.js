// What the attack scenarios (bench/attack.js) share: the server and redis-server they attack,
// WebSocket peers bound to a chosen loopback address, /health, and what /proc says of a process
// while it is under attack.
import { readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { clockTicks, cpuTicks, machineBusyTicks, rssKiB } from './proc.js'
import { notifyText } from './rawws.js'
import { startRedisServer } from './redis-server.js'
import { repoDir, startNode } from './targets.js'

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const ticksPerSecond = clockTicks()

/** The largest frame the server relays by default (--max-payload): an attacker's frame is this size. */
export const bigFrameBytes = 64 * 1024

/** A NOTIFY frame's text of exactly `bytes` bytes. */
export const notifyOf = bytes => notifyText(bytes)

/**
 * Starts the standalone server as its users do, on 127.0.0.1 and a port the kernel picks.
 * @param {string[]} [extra] more flags (e.g. --redis URL)
 * @param {string} [projectDir] the checkout whose bin/rtc-notify.js runs
 * @returns {Promise<{pid: number, url: string, command: string, stop: () => Promise<unknown>}>}
 */
export async function startServer (extra = [], projectDir = repoDir) {
  const args = [path.join(projectDir, 'bin/rtc-notify.js'), '-l', 'tcp:127.0.0.1:0', '-q', '--no-demo', ...extra]
  const server = await startNode({ args, ready: /rtc-notify listening on (http:\/\/\S+)/, cwd: projectDir })
  return watched(server.pid, { ...server, command: ['node bin/rtc-notify.js', ...args.slice(1)].join(' ') })
}

// The processes the attacks started and have not stopped: killed if the run is given up.
const running = new Set()

/** Keeps `pid` in the list of running processes until `handle.stop()`; returns the handle. */
export function watched (pid, handle) {
  running.add(pid)
  const stop = handle.stop
  return {
    ...handle,
    stop: async () => {
      try {
        return await stop()
      } finally {
        running.delete(pid)
      }
    }
  }
}

/** Kills every process the attacks started and did not stop (continuing a stopped one first). */
export function killRunning () {
  for (const pid of running) {
    for (const signal of ['SIGCONT', 'SIGKILL']) {
      try {
        process.kill(pid, signal)
      } catch {}
    }
  }
}

/**
 * Starts a throwaway redis-server (no persistence) on 127.0.0.1 and waits until it accepts
 * connections. `stop()` continues it first: a stopped process would not act on SIGTERM.
 */
export async function startRedis (binary = '/usr/bin/redis-server') {
  const { child, ...redis } = await startRedisServer({ binary })
  return watched(child.pid, {
    ...redis,
    pause: () => process.kill(child.pid, 'SIGSTOP'),
    resume: () => process.kill(child.pid, 'SIGCONT'),
    stop: () => new Promise(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', resolve)
      try {
        process.kill(child.pid, 'SIGCONT')
      } catch {}
      child.kill('SIGKILL')
    })
  })
}

// Client frames masked with zeros: valid for the server, and the client need not XOR 64 KB per
// frame, so that one generator process can offer the loads below.
const zeroMask = mask => mask.fill(0)

/**
 * Opens a WebSocket peer at `path` of the server at `base`, from `localAddress`.
 * Resolves with the open socket; rejects with an Error whose `status` is the HTTP status of a
 * refused handshake, or 'timeout', or the socket error's code.
 * @param {string} base e.g. http://127.0.0.1:8080/
 * @param {string} roomPath e.g. /call/abc
 * @param {{localAddress?: string, timeoutMs?: number}} [options]
 */
export function openPeer (base, roomPath, { localAddress = '127.0.0.1', timeoutMs = 10000 } = {}) {
  const url = new URL(roomPath.replace(/^\//, ''), base.replace(/^http/, 'ws'))
  const ws = new WebSocket(url, {
    localAddress,
    perMessageDeflate: false,
    generateMask: zeroMask,
    skipUTF8Validation: true,
    maxPayload: 0
  })
  return new Promise((resolve, reject) => {
    const fail = (status) => {
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
      reject(Object.assign(new Error(`join ${roomPath}: ${status}`), { status }))
    }
    const timer = setTimeout(() => fail('timeout'), timeoutMs)
    ws.once('unexpected-response', (_req, res) => {
      res.resume()
      fail(res.statusCode)
    })
    ws.once('error', err => fail(err.code ?? err.message))
    ws.once('open', () => {
      clearTimeout(timer)
      ws.removeAllListeners('error')
      // Errors after the handshake (a reset under load) end the peer; its close event says how.
      ws.on('error', () => {})
      resolve(ws)
    })
  })
}

/** Two peers of one room, both from `localAddress`: [first, second]. */
export async function openPair (base, room, options) {
  const a = await openPeer(base, `/call/${room}`, options)
  try {
    return [a, await openPeer(base, `/call/${room}`, options)]
  } catch (err) {
    a.terminate()
    throw err
  }
}

/**
 * GET /health: the HTTP status, or 'timeout' when no answer came within `timeoutMs`.
 * A fresh connection each time, so that one hung request does not hold the next.
 */
export function health (base, timeoutMs = 1000) {
  return new Promise(resolve => {
    const req = http.get(new URL('health', base), { agent: false, timeout: timeoutMs }, res => {
      res.resume()
      resolve(res.statusCode)
    })
    req.once('timeout', () => {
      req.destroy()
      resolve('timeout')
    })
    req.once('error', err => resolve(err.code ?? 'error'))
  })
}

/**
 * Reads a process's RSS every `everyMs` while an attack runs: the peak, and one sample a
 * second for the JSON.
 */
export class RssSampler {
  constructor (pid, everyMs = 100) {
    this.pid = pid
    this.startedAt = performance.now()
    this.firstKiB = rssKiB(pid)
    this.peakKiB = this.firstKiB
    this.series = [{ s: 0, rssMiB: mib(this.firstKiB) }]
    this.timer = setInterval(() => this.sample(), everyMs)
  }

  sample () {
    let kib
    try {
      kib = rssKiB(this.pid)
    } catch {
      return
    }
    if (kib > this.peakKiB) this.peakKiB = kib
    const s = Math.round((performance.now() - this.startedAt) / 1000)
    if (s > this.series[this.series.length - 1].s) this.series.push({ s, rssMiB: mib(kib) })
  }

  /** Stops sampling; returns the peak in MiB and the series. */
  stop () {
    clearInterval(this.timer)
    this.sample()
    return { peakMiB: mib(this.peakKiB), series: this.series }
  }
}

/** RSS of a process now, in MiB. */
export const rssMiB = pid => mib(rssKiB(pid))

const mib = kib => Math.round(kib / 1024 * 10) / 10

/**
 * Nanoseconds the main thread of a process (a node process's event loop) has spent runnable but
 * waiting for a CPU (the second field of /proc/<pid>/schedstat); 0 if the kernel does not say.
 */
export function runQueueNs (pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[1]) || 0
  } catch {
    return 0
  }
}

/**
 * Starts measuring the CPU of some processes and of the whole machine; `end()` gives the
 * percent of one core each process used, how long their main threads waited for a CPU (ms per
 * second of the window: on a busy machine a server can answer late without being slow itself),
 * and what the rest of the machine used meanwhile (a shared machine's other work spoils
 * figures: it is reported beside them).
 * @param {Record<string, number[]>} groups name -> pids, e.g. { server: [123], generators: [4, 5] }
 */
export function cpuWindow (groups) {
  const ticksOf = pids => pids.reduce((sum, pid) => {
    try {
      return sum + cpuTicks(pid)
    } catch {
      return sum
    }
  }, 0)
  const started = performance.now()
  const machine0 = machineBusyTicks()
  const self0 = process.cpuUsage()
  const waitOf = pids => pids.reduce((sum, pid) => sum + runQueueNs(pid), 0)
  const before = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, ticksOf(pids)]))
  const waitBefore = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, waitOf(pids)]))
  return {
    end () {
      const seconds = (performance.now() - started) / 1000
      const percent = ticks => Math.round(ticks / ticksPerSecond / seconds * 1000) / 10
      const out = { seconds: Math.round(seconds * 10) / 10 }
      let ours = 0
      for (const [name, pids] of Object.entries(groups)) {
        const used = ticksOf(pids) - before[name]
        ours += used
        out[`${name}CpuPercent`] = percent(used)
        out[`${name}RunQueueMsPerSec`] = Math.round((waitOf(pids) - waitBefore[name]) / 1e6 / seconds * 10) / 10
      }
      // This process (probe clients, samplers) counts as ours too; cpuUsage is in µs.
      const self = process.cpuUsage(self0)
      const selfTicks = (self.user + self.system) / 1e6 * ticksPerSecond
      out.benchCpuPercent = percent(selfTicks)
      out.otherCpuPercent = Math.max(0, percent(machineBusyTicks() - machine0 - ours - selfTicks))
      return out
    }
  }
}

/** The p-th percentile (0..100) of numbers, or null; nearest rank. */
export function percentile (values, p) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

/** Counts occurrences: count(map, key) adds one to map[key]. */
export function count (map, key) {
  map[key] = (map[key] ?? 0) + 1
}

/** Milliseconds since `t0` (performance.now()), rounded. */
export const msSince = t0 => Math.round(performance.now() - t0)

/** What an attacking peer sent and what the server answered it. */
export function newCounts () {
  return { sent: 0, heldBack: 0, relayed: 0, failed: {}, other: 0 }
}

const failedHead = Buffer.from('{"code":"failed",')
const notifyHead = Buffer.from('{"method":"NOTIFY"')

/** Counts one message the server sent a peer: a relayed NOTIFY, a `failed` answer (by reason), or something else. */
export function tally (data, counts) {
  if (data.subarray(0, notifyHead.length).equals(notifyHead)) {
    counts.relayed++
  } else if (data.subarray(0, failedHead.length).equals(failedHead)) {
    count(counts.failed, /"reason":"([^"]*)"/.exec(data.toString())?.[1] ?? '?')
  } else {
    counts.other++
  }
}

/**
 * Sends `frame` (a NOTIFY's text) on `ws` `fps` times a second until the returned function is
 * called or the peer closes. The server reads what it is sent, so unsent bytes stay few; a cap
 * guards the bench's own memory all the same (a frame not sent then counts as held back).
 */
export function sendAtRate (ws, frame, fps, counts) {
  const timer = setInterval(() => {
    if (ws.readyState !== ws.OPEN) return clearInterval(timer)
    if (ws.bufferedAmount > 1024 * 1024) {
      counts.heldBack++
      return
    }
    ws.send(frame, { binary: false })
    counts.sent++
  }, 1000 / fps)
  return () => clearInterval(timer)
}
