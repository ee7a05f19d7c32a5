#!/usr/bin/env node
// Profiles a server under the bench's closed loop: starts it with `node --cpu-prof`, drives the
// relay load at each frame size, stops it (the profile is written at exit), and prints where
// the time went in the measured window.
//
//   node bench/profile.js [--target project|floor|bare|peerjs|...] [--bytes 200,4096] [--rooms 2000]
//                         [--warmup 3] [--duration 10] [--top 25] [--out DIR]
//   node bench/profile.js --joins [--peers 10000]     (the joins of the idle scenario instead)
//   node bench/profile.js --room-size 4 [--rooms 500]  (the group scenario: every frame to all others)
//   node bench/profile.js --summarize FILE.cpuprofile [--top 25]
import { fork } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { formatSummary, summarizeProfile } from './lib/cpuprofile.js'
import { clockTicks } from './lib/proc.js'
import { liftedCaps, makeTargets, repoDir, serverUsage } from './lib/targets.js'

const benchDir = path.dirname(fileURLToPath(import.meta.url))
const { values: opt } = parseArgs({
  options: {
    target: { type: 'string', default: 'project' },
    bytes: { type: 'string', default: '200,4096' },
    rooms: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    top: { type: 'string', default: '25' },
    project: { type: 'string' },
    'server-arg': { type: 'string', multiple: true },
    out: { type: 'string' },
    summarize: { type: 'string' },
    joins: { type: 'boolean', default: false },
    'room-size': { type: 'string', default: '2' },
    peers: { type: 'string', default: '10000' }
  }
})
const top = Number(opt.top)

if (opt.summarize !== undefined) {
  const profile = JSON.parse(readFileSync(opt.summarize, 'utf8'))
  process.stdout.write(formatSummary(summarizeProfile(profile), { top, title: opt.summarize }) + '\n')
  process.exit(0)
}

const projectDir = path.resolve(opt.project ?? repoDir)
const serverHelp = serverUsage(projectDir)
const targets = makeTargets({
  projectDir,
  projectArgs: [...liftedCaps(serverHelp), ...(opt['server-arg'] ?? ['--heartbeat', '0'])],
  serverHelp
})
// `baseline` was the bare relay's name before the bench had several.
const target = targets[opt.target === 'baseline' ? 'bare' : opt.target]
const roomSize = Number(opt['room-size'])
if (target === undefined) {
  process.stderr.write(`profile: unknown --target ${opt.target}\n`)
  process.exit(2)
}
const outDir = path.resolve(opt.out ?? path.join(benchDir, 'results', 'profiles'))
mkdirSync(outDir, { recursive: true })

function runLoad (request) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(benchDir, 'load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    child.once('message', msg => msg.ok ? resolve(msg.result) : reject(new Error(msg.error)))
    child.once('exit', code => reject(new Error(`load generator exited (${code})`)))
    child.send(request)
  })
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-')
const common = {
  servers: [],
  pids: [],
  clockTicks: clockTicks(),
  concurrency: 100,
  peerRate: 40,
  peerBurst: 20,
  protocol: target.protocol ?? 'notify',
  placement: target.placement ?? 'split'
}
const runs = opt.joins
  ? [{ label: 'joins', request: { ...common, scenario: 'idle', peers: Number(opt.peers), warmupPeers: 200, settleMs: 500 } }]
  : opt.bytes.split(',').map(Number).map(bytes => ({
    label: roomSize > 2 ? `${bytes}B-rooms-of-${roomSize}` : `${bytes}B`,
    request: {
      ...common,
      ...(roomSize > 2 ? { scenario: 'group', roomSize } : { scenario: 'relay' }),
      frameBytes: bytes,
      rooms: Number(opt.rooms),
      inFlight: 2,
      warmupMs: Number(opt.warmup) * 1000,
      measureMs: Number(opt.duration) * 1000
    }
  }))
for (const run of runs) {
  const name = `${opt.target}-${run.label}-${stamp}.cpuprofile`
  const server = await target.start({ nodeArgs: ['--cpu-prof', '--cpu-prof-dir', outDir, '--cpu-prof-name', name], roomSize })
  let result
  try {
    result = await runLoad({ ...run.request, servers: server.urls, pids: server.pids, roomPrefix: `prof-${run.label}-${process.pid}` })
  } finally {
    await server.stop()
  }
  const file = path.join(outDir, name)
  if (!readdirSync(outDir).includes(name)) throw new Error(`no profile written at ${file}`)
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')), result.windowMonoUs)
  const what = result.scenario === 'idle'
    ? `${result.joined} joins: ${Math.round(result.joinsPerSec)} joins/s, ${result.serverCpuUsPerJoin.toFixed(1)} µs server CPU/join (with the profiler on)`
    : `${run.label} frames, ${opt.rooms} rooms x 2 in flight: ${Math.round(result.messagesPerSec)} msg/s, ` +
      `${result.serverCpuUsPerMsg.toFixed(2)} µs server CPU/msg (with the profiler on)`
  const title = `${opt.target}, ${what}, server ${result.serverCpuPercent.toFixed(0)}% cpu, ` +
    `other ${result.otherCpuPercent.toFixed(0)}%\nprofile: ${path.relative(process.cwd(), file)}`
  const per = summary.windowed
    ? (result.scenario === 'idle' ? { count: result.joined, unit: 'join' } : { count: result.messages, unit: 'msg' })
    : undefined
  const text = formatSummary(summary, { top, title, per })
  writeFileSync(file.replace(/\.cpuprofile$/, '.txt'), text + '\n')
  process.stdout.write(text + '\n\n')
}
