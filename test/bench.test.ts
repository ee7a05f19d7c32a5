// Smoke test of the bench (bench/run.js, issues 5, 13 and 14): on tiny loads each mode runs
// every server it compares, prints its table and writes the same as JSON with every figure
// for every column and the ratios it judges. To stay fast, each mode runs a few of its
// scenarios (the others differ from them only in frame size or pacing). No timing assertions: the figures only have to be
// there, and every frame sent has to come back as a relayed one (PeerJS's, whose relayed frames
// carry its `src`, and a group room's, which carry the server's `from`, included).
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

interface Ratio { of: string, to: string, ratio: number | null, target: string | null, met: boolean | null }
interface Figure { key: string, values: Record<string, number | null>, samples: Record<string, unknown[]>, ratios: Ratio[], met?: boolean }
interface Result { scenario: string, messages?: number, unexpected: number, notices: number, protocol: string, placement: string, serverPids: number[] }
interface Report {
  mode: { name: string, columns: string[] }
  rounds: Array<Record<string, Record<string, Result>>>
  figures: Figure[]
  problems: string[]
}

function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repo, 'bench/run.js'), ...args], { cwd: repo })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    child.once('error', reject)
    child.once('exit', code => resolve({ code, stdout, stderr }))
  })
}

/** Runs the bench with `args` and reads the one JSON file it wrote. */
async function bench (t: Test, args: string[]): Promise<{ stdout: string, report: Report }> {
  const out = mkdtempSync(path.join(tmpdir(), 'rtc-bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const { code, stdout, stderr } = await run(['--quick', '--out', out, ...args])
  t.equal(code, 0, `bench exits 0\n${stderr}`)
  const files = readdirSync(out).filter(f => f.endsWith('.json'))
  t.equal(files.length, 1, 'one JSON file')
  t.match(stdout, 'results: ', 'names the results file')
  return { stdout, report: JSON.parse(readFileSync(path.join(out, files[0]), 'utf8')) as Report }
}

function figure (report: Report, key: string): Figure {
  const f = report.figures.find(x => x.key === key)
  if (f === undefined) throw new Error(`no figure ${key}`)
  return f
}

/** Every measurement relayed something and got nothing it did not expect; no join failed. */
function healthy (t: Test, report: Report): void {
  for (const [target, scenarios] of Object.entries(report.rounds[0])) {
    for (const [scenario, r] of Object.entries(scenarios)) {
      t.equal(r.unexpected, 0, `${target} ${scenario}: every frame received was a relayed one or a notice`)
      if (r.messages !== undefined) t.ok(r.messages > 0, `${target} ${scenario}: relayed frames in the window`)
    }
  }
  const unhealthy = report.problems.filter(p => !/other processes used/.test(p))
  t.same(unhealthy, [], 'no problems besides a busy machine')
}

t.test('local mode: the project, the validating floor, PeerJS and the bare relay side by side, with the group case', async t => {
  const { stdout, report } = await bench(t, ['--only', 'relay200,group200,idle'])
  const columns = ['project', 'floor', 'peerjs', 'bare']
  t.same(report.mode.columns, columns)
  t.match(stdout, /^figure\s+project\s+floor\s+peerjs\s+bare\s+project\/floor\s+project\/peerjs\s+project\/bare\s+targets$/m, 'table header')
  for (const label of [
    'server CPU µs per relayed msg, 200 B', 'messages/s relayed, 200 B',
    'rooms of 4: CPU µs per delivered msg, 200 B', 'rooms of 4: messages/s delivered, 200 B',
    'RSS per idle peer, KiB', 'joins/s', 'server CPU µs per join', 'failed joins'
  ]) {
    t.ok(stdout.split('\n').some(line => line.startsWith(label)), `table row: ${label}`)
  }
  t.same(report.figures.map(f => f.key), [
    'cpuUsPerMsg200', 'msgsPerSec200', 'groupCpuUsPerMsg200', 'groupMsgsPerSec200',
    'rssPerIdlePeerKiB', 'joinsPerSec', 'cpuUsPerJoin', 'failedJoins'
  ], 'every figure of the scenarios run, in order')

  // Each column measured each figure, except what it skips: the floor's idle scenario would be
  // the bare relay's, and PeerJS has no rooms of N.
  const skipped = (key: string, column: string): boolean =>
    (column === 'floor' && /Join|Idle|joins/.test(key)) || (column === 'peerjs' && key.startsWith('group'))
  for (const f of report.figures) {
    for (const column of columns) {
      if (skipped(f.key, column)) {
        t.equal(f.values[column], null, `${f.key}: ${column} skips it`)
      } else {
        // Any finite number: on a tiny load an RSS delta may even be negative (a GC gave memory back).
        t.ok(typeof f.values[column] === 'number' && Number.isFinite(f.values[column]), `${f.key}: ${column} is a number (${f.values[column]})`)
        t.equal(f.samples[column].length, 1, `${f.key}: one sample for ${column}`)
      }
    }
  }
  const cpu = figure(report, 'cpuUsPerMsg200')
  t.match(cpu.ratios, [
    { of: 'project', to: 'floor', target: '<= 1.05', ratio: Number },
    { of: 'project', to: 'peerjs', target: '<= 0.90', ratio: Number },
    { of: 'project', to: 'bare', target: null, ratio: Number }
  ], 'CPU per message: judged against the floor and PeerJS')
  for (const r of cpu.ratios) if (r.target !== null) t.type(r.met, 'boolean')
  t.match(stdout, /project\/floor <= 1\.05 (met|MISSED); project\/peerjs <= 0\.90 (met|MISSED)/, 'the table says whether the targets are met')
  t.match(figure(report, 'joinsPerSec').ratios[2], { to: 'bare', target: '>= 0.90' })
  t.equal(figure(report, 'failedJoins').met, true, 'no join failed')

  const round = report.rounds[0]
  t.equal(round.peerjs.relay200.protocol, 'peerjs', 'PeerJS is driven with its own protocol')
  t.equal(round.floor.relay200.protocol, 'relay')
  t.ok(round.peerjs.idle.notices > 0, 'PeerJS greeted its clients (OPEN)')
  t.equal(round.project.relay200.notices, 0, 'a room of two gets nothing but the relayed frames')
  t.ok(round.project.group200.notices > 0, 'a group room tells of the room and its peers')
  healthy(t, report)
})

t.test('redis mode: co-located and split rooms against one process', async t => {
  const { stdout, report } = await bench(t, ['--mode', 'redis', '--only', 'relay200,idle'])
  t.same(report.mode.columns, ['project', 'colocated', 'split'])
  t.match(stdout, /^figure\s+project\s+colocated\s+split\s+colocated\/project\s+split\/project\s+targets$/m, 'table header')
  const round = report.rounds[0]
  t.equal(round.colocated.relay200.placement, 'colocated')
  t.equal(round.split.relay200.placement, 'split')
  // Two instances and redis-server count.
  t.equal(round.colocated.relay200.serverPids.length, 3)
  t.match(figure(report, 'cpuUsPerMsg200').ratios, [
    { of: 'colocated', to: 'project', target: '<= 1.20', ratio: Number },
    { of: 'split', to: 'project', target: '<= 1.60', ratio: Number }
  ])
  t.match(figure(report, 'joinsPerSec').ratios[0], { of: 'colocated', target: '>= 0.80', ratio: Number })
  healthy(t, report)
})

t.test('workers mode: the primary and every worker count', async t => {
  const help = execFileSync(process.execPath, [path.join(repo, 'bin/rtc-notify.js'), '--help'], { encoding: 'utf8' })
  const withRedis = /--workers[^\n]*needs --redis/.test(help)
  const { report } = await bench(t, ['--mode', 'workers', '--only', 'relay200', '--workers', '2'])
  t.same(report.mode.columns, ['project', 'workers'])
  const r = report.rounds[0].workers.relay200
  t.equal(r.serverPids.length, 1 + 2 + (withRedis ? 1 : 0), `primary, 2 workers${withRedis ? ', redis-server' : ''}`)
  t.match(figure(report, 'msgsPerSec200').ratios, [{ of: 'workers', to: 'project', ratio: Number }])
  healthy(t, report)
})

t.test('--help lists the flags; a bad flag value or a scenario the mode does not run is refused', async t => {
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--quick/)
  t.match(help.stdout, /--rounds N/)
  t.match(help.stdout, /--mode NAME/)
  const bad = await run(['--rounds', '0'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--rounds must be/)
  const notInMode = await run(['--mode', 'redis', '--only', 'group200'])
  t.equal(notInMode.code, 2)
  t.match(notInMode.stderr, /unknown scenario group200/)
})
