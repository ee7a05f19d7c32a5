// Attack 2, a flood from one address (issue 10, "CPU across connections"): 40 connections from
// 127.0.0.1 (20 rooms of two) send 64 KB NOTIFYs while a probe call from 127.0.0.2 relays a small
// frame every 20 ms. Three windows on one server: idle (the flood's peers joined and silent),
// at the budget (all 40 together offer the per-address byte budget, 8 MiB/s by default) and over
// it (each connection sends at its own limit, 50 frames/s: the attack, 125 MiB/s
// offered). Measured per window: the server's CPU, the probe's one-hop latency, and what became
// of the flood's frames (relayed, answered failed, connections closed and with which code).
// The flood comes from generator processes of its own (lib/attack-flood-gen.js), so that neither
// the probe's clock nor the offered load depends on one busy event loop; their CPU is reported.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { bigFrameBytes, cpuWindow, newCounts, openPair, percentile, sleep, startServer, tally, watched } from './attack-tools.js'

const generatorFile = fileURLToPath(new URL('./attack-flood-gen.js', import.meta.url))

/** The default per-address byte budget (--ip-byte-rate): what the "at budget" window offers. */
const ipByteRate = 8 * 1024 * 1024

/**
 * @param {object} options
 * @param {string} options.projectDir the checkout attacked
 * @param {number} [options.connections] flooding connections from 127.0.0.1 (two per room)
 * @param {number} [options.generators] processes they are spread over
 * @param {number} [options.seconds] length of each flood window
 * @param {number} [options.idleSeconds] length of the idle window
 */
export async function ipFlood ({ projectDir, connections = 40, generators = 2, seconds = 15, idleSeconds = 5 }) {
  const server = await startServer([], projectDir)
  const gens = []
  let probe
  try {
    const rooms = Array.from({ length: connections / 2 }, (_, r) => `flood-${r}`)
    for (let g = 0; g < generators; g++) gens.push(await startGenerator(server.url, rooms.filter((_, r) => r % generators === g)))
    probe = await Probe.open(server.url)
    const windows = {}
    const measure = async (name, fps, secs) => {
      // Each window starts and ends with the generators' counts: what came before is not kept.
      await Promise.all(gens.map(gen => gen.phase(fps)))
      const cpu = cpuWindow({ server: [server.pid], generators: gens.map(gen => gen.pid) })
      probe.reset()
      await sleep(secs * 1000)
      const usage = cpu.end()
      const hops = probe.reset()
      const counts = await Promise.all(gens.map(gen => gen.phase(0)))
      windows[name] = { fpsPerConnection: fps, offeredMiBPerSec: round1(fps * connections * bigFrameBytes / 1048576), ...usage, probe: hops, ...flood(counts) }
    }
    await sleep(1000)
    await measure('idle', 0, idleSeconds)
    await measure('atBudget', ipByteRate / bigFrameBytes / connections, seconds)
    await measure('overBudget', 50, seconds)
    return {
      server: server.command,
      config: { connections, generators, seconds, idleSeconds, frameBytes: bigFrameBytes, floodFrom: '127.0.0.1', probeFrom: '127.0.0.2', probeEveryMs: 20 },
      windows
    }
  } finally {
    probe?.close()
    for (const gen of gens) gen.stop()
    await server.stop()
  }
}

const round1 = x => Math.round(x * 10) / 10

/**
 * The flood's counts over all generators for one window: frames sent and relayed per second,
 * the bytes accepted, the failed answers by reason, and the connections closed by code.
 */
function flood (counts) {
  const seconds = Math.max(...counts.map(c => c.seconds))
  const sum = key => counts.reduce((total, c) => total + c[key], 0)
  const merge = key => counts.reduce((all, c) => {
    for (const [k, n] of Object.entries(c[key])) all[k] = (all[k] ?? 0) + n
    return all
  }, {})
  return {
    sentFramesPerSec: round1(sum('sent') / seconds),
    sentMiBPerSec: round1(sum('sent') * bigFrameBytes / 1048576 / seconds),
    heldBackFrames: sum('heldBack'),
    relayedFramesPerSec: round1(sum('relayed') / seconds),
    failedAnswers: merge('failed'),
    otherAnswers: sum('other'),
    closeCodes: merge('closeCodes'),
    rejoins: sum('rejoins'),
    joinFailures: merge('joinFailures')
  }
}

/** Forks a generator, hands it its rooms, and waits until all its peers are in them. */
function startGenerator (base, rooms) {
  const child = fork(generatorFile, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const gen = watched(child.pid, {
    pid: child.pid,
    waiting: null,
    exited: null,
    /** Sets the rate of a new window; resolves with the counts of the window that ended. */
    phase (fps) {
      return new Promise((resolve, reject) => {
        if (gen.exited !== null) return reject(gen.exited)
        gen.waiting = { resolve, reject }
        child.send({ type: 'rate', fps })
      })
    },
    stop () {
      if (child.connected) child.send({ type: 'stop' })
      setTimeout(() => child.kill('SIGKILL'), 3000).unref()
    }
  })
  return new Promise((resolve, reject) => {
    child.on('message', msg => {
      if (msg.type === 'ready') resolve(gen)
      else if (msg.type === 'error') reject(new Error(`flood generator: ${msg.message}`))
      else if (msg.type === 'phase') {
        gen.waiting?.resolve(msg.counts)
      }
    })
    child.once('exit', code => {
      gen.exited = new Error(`flood generator exited (${code})`)
      gen.waiting?.reject(gen.exited)
      reject(gen.exited)
    })
    child.send({ type: 'start', base, rooms, frameBytes: bigFrameBytes })
  })
}

/**
 * The probe: a call from 127.0.0.2, one small frame in flight, the next sent 20 ms after the
 * previous one arrived; one hop is from the sender's send to the receiver's message event (one
 * clock). A frame not relayed within 5 s counts as lost and the next one goes; the sender
 * counts the `failed` answers it gets (none expected: the probe's address has its own budget).
 */
class Probe {
  static async open (base) {
    const [sender, receiver] = await openPair(base, 'probe', { localAddress: '127.0.0.2' })
    return new Probe(sender, receiver)
  }

  constructor (sender, receiver) {
    this.sender = sender
    this.receiver = receiver
    this.hops = []
    this.lost = 0
    this.seq = 0
    this.sentAt = 0
    this.closed = false
    this.closeCodes = []
    this.answers = newCounts()
    for (const ws of [sender, receiver]) ws.once('close', code => this.closeCodes.push(code))
    sender.on('message', data => tally(data, this.answers))
    receiver.on('message', data => {
      const seq = Number(/"seq":(\d+)/.exec(data.toString())?.[1])
      if (seq !== this.seq) return
      this.hops.push(performance.now() - this.sentAt)
      this.next(20)
    })
    this.send()
  }

  send () {
    if (this.closed || this.sender.readyState !== this.sender.OPEN) return
    this.seq++
    this.sentAt = performance.now()
    this.sender.send(`{"method":"NOTIFY","data":{"seq":${this.seq}}}`)
    const seq = this.seq
    clearTimeout(this.lostTimer)
    this.lostTimer = setTimeout(() => {
      if (this.seq !== seq) return
      this.lost++
      this.send()
    }, 5000)
  }

  next (delayMs) {
    clearTimeout(this.lostTimer)
    this.nextTimer = setTimeout(() => this.send(), delayMs)
  }

  /** The window that ends: hops p50/p99 (ms), how many, how many lost; and starts a new one. */
  reset () {
    const out = {
      hops: this.hops.length,
      p50Ms: round2(percentile(this.hops, 50)),
      p99Ms: round2(percentile(this.hops, 99)),
      maxMs: round2(this.hops.length > 0 ? Math.max(...this.hops) : null),
      lost: this.lost,
      failed: this.answers.failed,
      closeCodes: [...this.closeCodes]
    }
    this.hops = []
    this.lost = 0
    this.answers = newCounts()
    return out
  }

  close () {
    this.closed = true
    for (const ws of [this.sender, this.receiver]) ws.removeAllListeners('close')
    clearTimeout(this.lostTimer)
    clearTimeout(this.nextTimer)
    this.sender.terminate()
    this.receiver.terminate()
  }
}

const round2 = x => x === null ? null : Math.round(x * 100) / 100
