#!/usr/bin/env node
// The bench (`npm run bench`, issues 5, 13 and 14): this project's standalone server side by
// side with what it is measured against (the validating floor, PeerJS server, the bare ws
// relay; or itself on Redis, or with workers), driven by a load generator in its own process.
// For every round and every scenario, each server of the mode is started fresh, measured, and
// stopped, in turn; each figure is the median over rounds, for each, and the mode's ratios.
//
//   node bench/run.js [--quick] [--rounds N] [--rooms N] [--warmup S] [--duration S] ...
//   node bench/run.js --help
import { fork, execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { clockTicks, ensureNofile, localPortRange, machineBusyTicks } from './lib/proc.js'
import { summarize, table } from './lib/report.js'
import { liftedCaps, makeTargets, modes, repoDir, serverUsage } from './lib/targets.js'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
// `npm run bench | head` closes the pipe early: the JSON is written anyway.
process.stdout.on('error', () => {})

const usage = `Usage: node bench/run.js [options]   (npm run bench -- [options])

Runs the project server side by side with the servers its mode compares it with (in turn,
fresh processes for every measurement), prints a table of medians and ratios and writes it
as JSON to bench/results/<time>.json.

  --quick                 a smoke run of a few seconds: 1 round, tiny loads (any flag below overrides it)
  --rounds N              rounds (default 5; medians over rounds)
  --mode NAME             what to compare (default local):
                            local    project, validating floor (ws + JSON.parse), PeerJS server, bare ws relay
                            redis    project on two instances sharing a Redis (rooms co-located, rooms split)
                                     against one process
                            workers  rtc-notify --workers N against one process
  --only LIST             scenarios to run, comma-separated, among the mode's:
                          relay200,relay4k,group200,group4k,latency,idle (default: all the mode's)
  --rooms N               rooms of the closed loop (default 2000)
  --in-flight N           frames (group: broadcasts) in flight per room (default 2)
  --room-size N           peers per room of the group scenarios (default 4)
  --group-rooms N         rooms of the group scenarios (default 500)
  --workers N             worker processes of --mode workers (default 2)
  --warmup S              closed loop: seconds of warm-up before the window (default 3)
  --duration S            closed loop: seconds measured (default 5)
  --latency-rooms N       rooms of the light load (default 10)
  --latency-duration S    light load: seconds measured, after 1 s of warm-up (default 5)
  --idle-peers N          idle peers held for RSS per peer and joins/s (default 10000)
  --join-concurrency N    handshakes in progress at once (default 100)
  --peer-rate N           most frames a generator peer sends per second (default 40; the server
                          allows 50/s per connection); 0: no pacing
  --project DIR           checkout to measure (bin/rtc-notify.js and its dist/; default this one)
  --server-arg ARG        extra flag for rtc-notify; repeatable (default: --heartbeat 0); its connection
                          caps are turned off in any case (--max-connections 0 --max-connections-per-ip 0)
  --retries N             measure again (after waiting up to 30 s for quiet) when other processes
                          used over 25% of a core in the window, at most N times (default 2)
  --wait-quiet S          before each measurement, wait up to S seconds for the machine to be quiet
                          (other processes under 25% of a core over 1 s; default 0: do not wait)
  --pin                   pin the server to the last CPU and the generator to the others (taskset)
  --nice=N                run the servers and the generator at this nice value (-20..19; below 0
                          needs root), so that other work on a shared machine disturbs them less
  --out DIR               where the JSON goes (default bench/results)
  -h, --help              this help`

let opt
try {
  opt = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      mode: { type: 'string', default: 'local' },
      only: { type: 'string' },
      rooms: { type: 'string' },
      'in-flight': { type: 'string' },
      'room-size': { type: 'string' },
      'group-rooms': { type: 'string' },
      workers: { type: 'string' },
      warmup: { type: 'string' },
      duration: { type: 'string' },
      'latency-rooms': { type: 'string' },
      'latency-duration': { type: 'string' },
      'idle-peers': { type: 'string' },
      'join-concurrency': { type: 'string' },
      'peer-rate': { type: 'string' },
      project: { type: 'string' },
      'server-arg': { type: 'string', multiple: true },
      out: { type: 'string' },
      'wait-quiet': { type: 'string' },
      retries: { type: 'string' },
      nice: { type: 'string' },
      pin: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  }).values
} catch (err) {
  process.stderr.write(`bench: ${err.message.split('\n')[0]}\nTry 'node bench/run.js --help'.\n`)
  process.exit(2)
}
if (opt.help) {
  process.stdout.write(usage + '\n')
  process.exit(0)
}

const presets = {
  full: { rounds: 5, rooms: 2000, groupRooms: 500, inFlight: 2, warmupS: 3, durationS: 5, latencyRooms: 10, latencyWarmupS: 1, latencyDurationS: 5, idlePeers: 10000, idleWarmupPeers: 200, settleMs: 1000, joinConcurrency: 100, retries: 2 },
  quick: { rounds: 1, rooms: 20, groupRooms: 5, inFlight: 2, warmupS: 0.3, durationS: 0.7, latencyRooms: 2, latencyWarmupS: 0.2, latencyDurationS: 0.6, idlePeers: 200, idleWarmupPeers: 20, settleMs: 100, joinConcurrency: 20, retries: 0 }
}
const base = opt.quick ? presets.quick : presets.full

function num (name, fallback, { min = 0, max = Infinity, integer = true } = {}) {
  const raw = opt[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    process.stderr.write(`bench: --${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]\n`)
    process.exit(2)
  }
  return n
}

// Bounded counts and durations: this bench only ever targets 127.0.0.1 and must stay small.
const cfg = {
  rounds: num('rounds', base.rounds, { min: 1, max: 20 }),
  rooms: num('rooms', base.rooms, { min: 1, max: 5000 }),
  inFlight: num('in-flight', base.inFlight, { min: 1, max: 16 }),
  roomSize: num('room-size', 4, { min: 3, max: 12 }),
  groupRooms: num('group-rooms', base.groupRooms, { min: 1, max: 2000 }),
  workers: num('workers', 2, { min: 1, max: 16 }),
  warmupS: num('warmup', base.warmupS, { max: 60, integer: false }),
  durationS: num('duration', base.durationS, { min: 0.1, max: 120, integer: false }),
  latencyRooms: num('latency-rooms', base.latencyRooms, { min: 1, max: 100 }),
  latencyWarmupS: base.latencyWarmupS,
  latencyDurationS: num('latency-duration', base.latencyDurationS, { min: 0.1, max: 120, integer: false }),
  idlePeers: num('idle-peers', base.idlePeers, { min: 2, max: 15000 }),
  idleWarmupPeers: base.idleWarmupPeers,
  settleMs: base.settleMs,
  joinConcurrency: num('join-concurrency', base.joinConcurrency, { min: 1, max: 1000 }),
  peerRate: num('peer-rate', 40, { max: 1000, integer: false }),
  peerBurst: 20,
  waitQuietS: num('wait-quiet', 0, { max: 600, integer: false }),
  retries: num('retries', base.retries, { max: 10 }),
  nice: num('nice', 0, { min: -20, max: 19 }),
  pin: opt.pin && os.cpus().length >= 2
}
// With --pin: the server on the last CPU, the generator (and this process) on the others.
const serverCpus = cfg.pin ? String(os.cpus().length - 1) : undefined
const generatorCpus = cfg.pin ? (os.cpus().length === 2 ? '0' : `0-${os.cpus().length - 2}`) : undefined
const modeName = opt.mode
const mode = modes[modeName]
if (mode === undefined) {
  process.stderr.write(`bench: unknown --mode ${modeName} (known: ${Object.keys(modes).join(', ')})\n`)
  process.exit(2)
}
const only = opt.only === undefined ? mode.scenarios : opt.only.split(',').map(s => s.trim()).filter(Boolean)
for (const s of only) {
  if (!mode.scenarios.includes(s)) {
    process.stderr.write(`bench: unknown scenario ${s} in --only (mode ${modeName} runs: ${mode.scenarios.join(', ')})\n`)
    process.exit(2)
  }
}
const projectDir = path.resolve(opt.project ?? repoDir)
const serverFlags = serverUsage(projectDir)
const projectArgs = [...liftedCaps(serverFlags), ...(opt['server-arg'] ?? ['--heartbeat', '0'])]
const targets = makeTargets({ projectDir, projectArgs, serverHelp: serverFlags, workers: cfg.workers })
const outDir = path.resolve(opt.out ?? path.join(benchDir, 'results'))
const ticks = clockTicks()

/** What each scenario asks of the load generator, and whether the server needs its inspector. */
function scenarioSpec (key) {
  const loop = { rooms: cfg.rooms, inFlight: cfg.inFlight, warmupMs: cfg.warmupS * 1000, measureMs: cfg.durationS * 1000 }
  switch (key) {
    case 'relay200': return { request: { scenario: 'relay', frameBytes: 200, ...loop } }
    case 'relay4k': return { request: { scenario: 'relay', frameBytes: 4096, ...loop } }
    case 'group200':
    case 'group4k': return {
      roomSize: cfg.roomSize,
      request: { scenario: 'group', frameBytes: key === 'group200' ? 200 : 4096, ...loop, rooms: cfg.groupRooms, roomSize: cfg.roomSize }
    }
    case 'latency': return {
      request: {
        scenario: 'latency',
        frameBytes: 200,
        rooms: cfg.latencyRooms,
        gapMs: [20, 30],
        warmupMs: cfg.latencyWarmupS * 1000,
        measureMs: cfg.latencyDurationS * 1000
      }
    }
    case 'idle': return {
      inspect: true,
      request: { scenario: 'idle', peers: cfg.idlePeers, warmupPeers: cfg.idleWarmupPeers, settleMs: cfg.settleMs }
    }
  }
  throw new Error(key)
}

/** Runs one request in a fresh load generator process. */
function runLoad (request) {
  return new Promise((resolve, reject) => {
    // taskset execs node with the IPC channel inherited.
    const pinned = generatorCpus === undefined ? {} : { execPath: 'taskset', execArgv: ['-c', generatorCpus, process.execPath] }
    const child = fork(path.join(benchDir, 'load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...pinned })
    let answered = false
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`load generator: no answer after 10 minutes (${request.scenario})`))
    }, 600000)
    child.once('message', msg => {
      answered = true
      clearTimeout(timer)
      if (msg.ok) resolve(msg.result)
      else reject(new Error(`load generator failed: ${msg.error}`))
    })
    child.once('exit', code => {
      if (!answered) {
        clearTimeout(timer)
        reject(new Error(`load generator exited (${code}) without an answer`))
      }
    })
    child.send(request)
  })
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Waits until the machine is quiet (under 25% of a core busy over a second), at most `maxS`.
 * @returns {Promise<{waitedS: number, busyPercent: number}>} the last second's load
 */
async function waitQuiet (maxS) {
  const started = Date.now()
  for (;;) {
    const m0 = machineBusyTicks()
    await sleep(1000)
    const busyPercent = 100 * (machineBusyTicks() - m0) / ticks
    const waitedS = (Date.now() - started) / 1000
    if (busyPercent < 25 || waitedS >= maxS) return { waitedS, busyPercent }
  }
}

/** One measurement: fresh server processes, one scenario, then stop. */
async function measure (targetName, scenarioKey, roundIndex) {
  const spec = scenarioSpec(scenarioKey)
  const quiet = cfg.waitQuietS > 0 ? await waitQuiet(cfg.waitQuietS) : undefined
  const target = targets[targetName]
  const server = await target.start({ inspect: spec.inspect === true, cpus: serverCpus, roomSize: spec.roomSize })
  let result
  try {
    result = await runLoad({
      ...spec.request,
      protocol: target.protocol ?? 'notify',
      placement: target.placement ?? 'split',
      servers: server.urls,
      pids: server.pids,
      inspectors: server.inspectors,
      clockTicks: ticks,
      concurrency: cfg.joinConcurrency,
      peerRate: cfg.peerRate,
      peerBurst: cfg.peerBurst,
      roomPrefix: `r${roundIndex}-${scenarioKey}-${process.pid}`
    })
  } finally {
    const exits = await server.stop()
    if (result !== undefined) result.serverExit = exits
  }
  result.commands = server.commands
  result.serverPids = server.pids
  if (quiet !== undefined) result.beforeStart = quiet
  return result
}

// Other processes' CPU (% of one core) in a window above which a measurement is suspect.
const busyLimit = 25

/** Things that make a measurement suspect, as sentences. */
function problemsOf (target, scenario, round, r) {
  const where = `round ${round + 1}, ${target}, ${scenario}`
  const problems = []
  if (r.joinFailures > 0) problems.push(`${where}: ${r.joinFailures} joins failed ${JSON.stringify(r.joinErrors)}`)
  if (r.failedJoins > 0) problems.push(`${where}: ${r.failedJoins} of ${r.peers} joins failed ${JSON.stringify(r.joinErrors)}`)
  if (r.stillOpen !== undefined && r.stillOpen !== r.joined) problems.push(`${where}: only ${r.stillOpen} of ${r.joined} idle peers were still open`)
  if (r.unexpected > 0) problems.push(`${where}: ${r.unexpected} frames other than the relayed one, e.g. ${JSON.stringify(r.unexpectedSamples)}`)
  if (r.closedByServer > 0) problems.push(`${where}: the server closed ${r.closedByServer} peers ${JSON.stringify(r.closeCodes)}`)
  if (r.otherCpuPercent > busyLimit) problems.push(`${where}: other processes used ${r.otherCpuPercent.toFixed(0)}% of a core during the window: figures are suspect`)
  if ((r.scenario === 'relay' || r.scenario === 'group') && r.messages === 0) problems.push(`${where}: no frame relayed in the window`)
  return problems
}

function gitInfo (dir) {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'bin', 'package.json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return { head, libDirty: dirty !== '', dirtyFiles: dirty === '' ? [] : dirty.split('\n') }
  } catch {
    return null
  }
}

async function main () {
  const started = new Date()
  // Sockets: the generator holds every peer's socket, the server as many again (per process).
  const peakPeers = Math.max(
    only.includes('idle') ? cfg.idlePeers + cfg.idleWarmupPeers : 0,
    only.some(s => s.startsWith('relay')) ? 2 * cfg.rooms : 0,
    only.some(s => s.startsWith('group')) ? cfg.roomSize * cfg.groupRooms : 0,
    2 * cfg.latencyRooms)
  const nofile = ensureNofile(peakPeers + 1024)
  if (!(nofile.after.soft >= peakPeers + 1024)) {
    process.stderr.write(`bench: ${nofile.note}: too few for ${peakPeers} peers; raise the hard limit (ulimit -Hn, as root) or lower --idle-peers / --rooms\n`)
    process.exit(2)
  }
  const ports = localPortRange()
  const notes = [nofile.note]
  if (cfg.nice !== 0) {
    // Children inherit the orchestrator's nice value: every server and generator runs at it.
    os.setPriority(0, cfg.nice)
    notes.push(`nice ${os.getPriority(0)} for the servers and the generator`)
  }
  if (cfg.pin) notes.push(`server pinned to CPU ${serverCpus}, generator to CPU ${generatorCpus}`)
  if (ports[1] - ports[0] + 1 < peakPeers + 1000) notes.push(`local port range ${ports.join('-')} is small for ${peakPeers} peers`)
  const columns = mode.columns
  process.stdout.write(`bench: mode ${modeName} (${columns.join(', ')}), ${cfg.rounds} round(s), scenarios ${only.join(', ')}\n`)
  process.stdout.write(`bench: ${notes.join('; ')}\n`)

  const rounds = []
  const problems = []
  for (let round = 0; round < cfg.rounds; round++) {
    const results = Object.fromEntries(columns.map(t => [t, {}]))
    rounds.push(results)
    for (const scenario of only) {
      for (const target of columns) {
        if (mode.skip?.[target]?.includes(scenario)) continue
        const t0 = Date.now()
        let r = await measure(target, scenario, round)
        // A window that other processes shared says little about the server: measure it again,
        // after waiting for a quiet moment, a bounded number of times.
        const spoiled = []
        while (r.otherCpuPercent > busyLimit && spoiled.length < cfg.retries) {
          spoiled.push(r.otherCpuPercent)
          process.stdout.write(`  round ${round + 1}/${cfg.rounds}  ${scenario.padEnd(8)} ${target.padEnd(9)} other processes used ${r.otherCpuPercent.toFixed(0)}% of a core: measuring again\n`)
          await waitQuiet(30)
          r = await measure(target, scenario, round)
        }
        if (spoiled.length > 0) r.spoiledAttempts = spoiled
        results[target][scenario] = r
        problems.push(...problemsOf(target, scenario, round, r))
        process.stdout.write(`  round ${round + 1}/${cfg.rounds}  ${scenario.padEnd(8)} ${target.padEnd(9)} ${brief(r)}  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
      }
    }
  }

  const summary = summarize(rounds, mode, new Set(only), { roomSize: cfg.roomSize })
  const finished = new Date()
  const cpu = os.cpus()
  const report = {
    bench: 'fastify-rtc-notify relay bench (issues 5, 13, 14)',
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    seconds: (finished - started) / 1000,
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    mode: {
      name: modeName,
      columns,
      description: mode.description,
      targets: Object.fromEntries(columns.map(t => [t, targets[t].description])),
      ratios: mode.ratios.map(({ of, to, targets }) => ({ of, to, targets })),
      skip: mode.skip ?? {}
    },
    machine: {
      cpu: cpu[0]?.model ?? 'unknown',
      cores: cpu.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      clockTicks: ticks,
      nofile: nofile.after,
      localPortRange: ports
    },
    project: { dir: projectDir, args: projectArgs, git: gitInfo(projectDir) },
    config: { ...cfg, scenarios: only, latencyGapMs: [20, 30] },
    notes,
    figures: summary,
    problems,
    rounds
  }
  mkdirSync(outDir, { recursive: true })
  const file = path.join(outDir, `${started.toISOString().replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')

  const loadLine = `${cfg.rooms} rooms x ${cfg.inFlight} in flight, ${cfg.warmupS} s warm-up + ${cfg.durationS} s window; ` +
    (only.some(s => s.startsWith('group')) ? `group: ${cfg.groupRooms} rooms of ${cfg.roomSize}; ` : '') +
    `latency: ${cfg.latencyRooms} rooms, 1 in flight; idle: ${cfg.idlePeers} peers`
  process.stdout.write(`\nmedians of ${cfg.rounds} round(s); ${loadLine}\n`)
  process.stdout.write(`machine: ${report.machine.cpu}, ${report.machine.cores} cores, ${report.machine.os}, node ${process.version}\n\n`)
  process.stdout.write(table(summary, mode) + '\n\n')
  for (const t of columns) process.stdout.write(`${t}: ${targets[t].description}\n`)
  const skipped = Object.entries(mode.skip ?? {}).map(([t, list]) => `${t} skips ${list.join(', ')}`)
  if (skipped.length > 0) process.stdout.write(`(${skipped.join('; ')})\n`)
  process.stdout.write('\n' + busyLine(rounds, columns) + '\n')
  if (problems.length > 0) {
    process.stdout.write(`\n${problems.length} problem(s):\n${problems.slice(0, 20).map(p => '  ' + p).join('\n')}\n`)
  }
  process.stdout.write(`\nresults: ${path.relative(process.cwd(), file) || file}\n`)
}

function brief (r) {
  switch (r.scenario) {
    case 'relay':
    case 'group': return `${Math.round(r.messagesPerSec)} msg/s, ${fmt(r.serverCpuUsPerMsg, 2)} µs/msg (${fmt(r.serverSystemUsPerMsg, 2)} system), server ${r.serverCpuPercent.toFixed(0)}% cpu, generator ${r.generatorCpuPercent.toFixed(0)}%, other ${r.otherCpuPercent.toFixed(0)}%`
    case 'latency': return `p50 ${fmt(r.p50Ms, 3)} ms, p99 ${fmt(r.p99Ms, 3)} ms (${r.samples} hops)`
    case 'idle': return `${Math.round(r.joinsPerSec)} joins/s, ${fmt(r.serverCpuUsPerJoin, 1)} µs/join, ${fmt(r.rssPerPeerKiB, 2)} KiB/peer, ${r.failedJoins} failed`
  }
  return ''
}

function fmt (x, digits) {
  return typeof x === 'number' ? x.toFixed(digits) : '-'
}

// Whether the closed loop was bound by the server (near 100% of a core) or by the generator.
function busyLine (rounds, columns) {
  const parts = []
  for (const s of ['relay200', 'relay4k', 'group200', 'group4k']) {
    const per = t => {
      const rs = rounds.map(r => r[t]?.[s]).filter(Boolean)
      if (rs.length === 0) return null
      const avg = k => rs.reduce((x, r) => x + r[k], 0) / rs.length
      return `${t} ${avg('serverCpuPercent').toFixed(0)}% (generator ${avg('generatorCpuPercent').toFixed(0)}%)`
    }
    const each = columns.map(per).filter(p => p !== null)
    if (each.length > 0) parts.push(`${s}: ${each.join(', ')}`)
  }
  return parts.length === 0 ? '' : `server CPU busy in the window, mean of rounds:\n  ${parts.join('\n  ')}`
}

main().catch(err => {
  process.stderr.write(`bench: ${err.stack ?? err}\n`)
  process.exit(1)
})
