// Smoke test of the bench (bench/run.js, issue 5): on a tiny load it runs the project server
// and the bare ws relay, prints its table and writes the same as JSON with every figure for
// both servers. No timing assertions: the figures only have to be there.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// The figures every run reports, each for both servers (failedJoins has no ratio).
const figureKeys = [
  'cpuUsPerMsg200', 'cpuUsPerMsg4k', 'msgsPerSec200', 'msgsPerSec4k',
  'latencyP50Ms', 'latencyP99Ms', 'rssPerIdlePeerKiB', 'joinsPerSec', 'cpuUsPerJoin', 'failedJoins'
]

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

t.test('a quick bench run prints its table and writes JSON with every figure for both servers', async t => {
  const out = mkdtempSync(path.join(tmpdir(), 'rtc-bench-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const { code, stdout, stderr } = await run(['--quick', '--out', out])
  t.equal(code, 0, `bench exits 0\n${stderr}`)

  t.match(stdout, /^figure\s+project\s+baseline\s+project\/baseline\s+target$/m, 'table header')
  for (const label of [
    'server CPU µs per relayed msg, 200 B', 'server CPU µs per relayed msg, 4 KB',
    'messages/s relayed, 200 B', 'messages/s relayed, 4 KB',
    'one-hop latency p50, ms', 'one-hop latency p99, ms',
    'RSS per idle peer, KiB', 'joins/s', 'server CPU µs per join', 'failed joins'
  ]) {
    t.ok(stdout.split('\n').some(line => line.startsWith(label)), `table row: ${label}`)
  }

  const files = readdirSync(out).filter(f => f.endsWith('.json'))
  t.equal(files.length, 1, 'one JSON file')
  const file = path.join(out, files[0])
  t.match(stdout, 'results: ', 'names the results file')
  const report = JSON.parse(readFileSync(file, 'utf8'))
  t.match(report.mode, { name: 'local', a: 'project', b: 'baseline' }, 'compares project with baseline')
  t.equal(report.rounds.length, 1, 'one round')
  t.type(report.machine.cpu, 'string')
  t.same(report.figures.map((f: { key: string }) => f.key), figureKeys, 'every figure, in order')
  for (const f of report.figures) {
    for (const server of ['project', 'baseline']) {
      // Any finite number: on a tiny load an RSS delta may even be negative (a GC gave memory back).
      t.ok(typeof f[server] === 'number' && Number.isFinite(f[server]), `${f.key}: ${server} is a number (${f[server]})`)
      t.equal(f.samples[server].length, 1, `${f.key}: one sample for ${server}`)
    }
    if (f.key !== 'failedJoins') t.ok(f.ratio === null || Number.isFinite(f.ratio), `${f.key}: ratio`)
  }
  for (const key of ['msgsPerSec200', 'msgsPerSec4k', 'joinsPerSec', 'latencyP50Ms']) {
    const f = report.figures.find((x: { key: string }) => x.key === key)
    t.ok(f.project > 0 && f.baseline > 0 && f.ratio > 0, `${key}: measured something for both`)
  }
  // Both servers relayed every frame: no refusal, no unexpected close, no failed join.
  const unhealthy = report.problems.filter((p: string) => !/other processes used/.test(p))
  t.same(unhealthy, [], 'no problems besides a busy machine')
})

t.test('--help lists the flags; a bad flag value is refused', async t => {
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /--quick/)
  t.match(help.stdout, /--rounds N/)
  const bad = await run(['--rounds', '0'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--rounds must be/)
})
