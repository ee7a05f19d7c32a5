#!/usr/bin/env node
// The attack bench (issue 10): the figures the README's limits state, measured on loopback
// against the standalone server as its users start it (`rtc-notify -l tcp:127.0.0.1:0 -q
// --no-demo`, every limit at its default):
//   1. slow readers     peers that never read what the server sends them (lib/attack-slow.js)
//   2. flood            40 connections from one address, and a probe call from another (lib/attack-flood.js)
//   3. hung Redis       redis-server stopped with SIGSTOP under load, then continued (lib/attack-redis.js)
// Prints a table and writes everything to bench/results/attack-<time>.json. About 2 minutes;
// a watchdog ends the run after 6.
//
//   node bench/attack.js [--only slow,flood,redis] [--project DIR] [--generators N] [--nice=N] [--out DIR]
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ipFlood } from './lib/attack-flood.js'
import { hungRedis } from './lib/attack-redis.js'
import { attackTable } from './lib/attack-report.js'
import { slowReaders } from './lib/attack-slow.js'
import { killRunning } from './lib/attack-tools.js'
import { repoDir, serverUsage } from './lib/targets.js'

const benchDir = path.dirname(fileURLToPath(import.meta.url))

const usage = `Usage: node bench/attack.js [options]

Attacks the standalone server on 127.0.0.1 (every limit at its default) and measures what it
holds: slow readers, a flood from one address, a hung Redis. Prints a table; writes JSON to
bench/results/attack-<time>.json. Run \`npm run build\` first.

  --only LIST        attacks to run, comma-separated: slow,flood,redis (default: all)
  --project DIR      checkout to attack (its bin/rtc-notify.js and dist/; default this one)
  --generators N     processes the flood is sent from (default 2)
  --redis-server BIN redis-server binary (default /usr/bin/redis-server)
  --nice=N           run everything at this nice value (-20..19; below 0 needs root), so that
                     other work on a shared machine disturbs the figures less (as bench/run.js)
  --out DIR          where the JSON goes (default bench/results)
  -h, --help         this help`

const attacks = ['slow', 'flood', 'redis']
// The whole run takes about 2 minutes; anything still going after this is stuck.
const watchdogMs = 6 * 60 * 1000

function options () {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: attacks.join(',') },
      project: { type: 'string', default: repoDir },
      generators: { type: 'string', default: '2' },
      'redis-server': { type: 'string', default: '/usr/bin/redis-server' },
      nice: { type: 'string', default: '0' },
      out: { type: 'string', default: path.join(benchDir, 'results') },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  if (values.help) {
    console.log(usage)
    process.exit(0)
  }
  const only = values.only.split(',')
  const unknown = only.filter(a => !attacks.includes(a))
  if (unknown.length > 0) throw new Error(`unknown attack ${unknown.join(', ')}: expected ${attacks.join(', ')}`)
  const generators = Number(values.generators)
  if (!Number.isInteger(generators) || generators < 1 || 20 % generators !== 0) throw new Error('--generators must divide the 20 rooms of the flood (1, 2, 4, 5, 10, 20)')
  const nice = Number(values.nice)
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) throw new Error('--nice must be an integer from -20 to 19')
  return { only, projectDir: path.resolve(values.project), generators, redisServer: values['redis-server'], nice, out: values.out }
}

/** What the figures depend on besides the code: the machine, its load, node, the commit. */
function machine (projectDir) {
  let commit = null
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {}
  return { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavg: os.loadavg(), memTotalMiB: Math.round(os.totalmem() / 1048576), node: process.version, commit }
}

async function main () {
  const opt = options()
  // Children inherit it: every server, redis-server and generator runs at it.
  if (opt.nice !== 0) os.setPriority(0, opt.nice)
  const watchdog = setTimeout(() => {
    console.error(`bench/attack.js: still running after ${watchdogMs / 60000} minutes; giving up`)
    killRunning()
    process.exit(2)
  }, watchdogMs)
  watchdog.unref()
  process.once('SIGINT', () => {
    killRunning()
    process.exit(130)
  })
  const startedAt = new Date()
  const results = {}
  const help = serverUsage(opt.projectDir)
  if (opt.only.includes('slow')) {
    console.error('1/3 slow readers...')
    results.slow = await slowReaders({ projectDir: opt.projectDir })
    // The bound on a connection's outgoing buffer has no flag of its own (maxBufferedBytes is a
    // plugin option), so the server cannot be started without it.
    results.slow.unbounded = help.includes('--max-buffered-bytes')
      ? 'not measured: this checkout has --max-buffered-bytes, add a column for it'
      : 'skipped: rtc-notify has no flag to lift maxBufferedBytes (a plugin option only)'
  }
  if (opt.only.includes('flood')) {
    console.error('2/3 flood from one address...')
    results.flood = await ipFlood({ projectDir: opt.projectDir, generators: opt.generators })
  }
  if (opt.only.includes('redis')) {
    console.error('3/3 hung Redis...')
    results.redis = await hungRedis({ projectDir: opt.projectDir, redisServer: opt.redisServer })
  }
  console.log(attackTable(results))
  mkdirSync(opt.out, { recursive: true })
  const file = path.join(opt.out, `attack-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`)
  const command = ['node', 'bench/attack.js', ...process.argv.slice(2)].join(' ')
  writeFileSync(file, JSON.stringify({ command, startedAt, seconds: Math.round((Date.now() - startedAt) / 1000), machine: { ...machine(opt.projectDir), nice: os.getPriority(0) }, results }, null, 2) + '\n')
  console.log(`\n${file}`)
  clearTimeout(watchdog)
}

main().then(() => process.exit(0), err => {
  console.error(err)
  killRunning()
  process.exit(1)
})
