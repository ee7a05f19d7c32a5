// The package as users get it: `npm pack` of the built dist/, installed into fresh apps under
// os.tmpdir() that run as separate processes.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join as joinPath } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { join, type TestPeer } from '../helpers/client.js'

/** The repository root. */
export const root = fileURLToPath(new URL('../../', import.meta.url))
const tscBin = joinPath(root, 'node_modules/typescript/bin/tsc')

/** What a finished process printed. */
export interface Finished { code: number | null, stdout: string, stderr: string }

/**
 * Runs a command to completion. npm's own npm_* variables are left out of its environment, so
 * that an npm run inside `npm test` behaves as in a user's shell.
 */
export async function run (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const child = spawn(command, args, { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
  return { code, stdout, stderr }
}

function cleanEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
}

async function mustRun (command: string, args: string[], cwd: string): Promise<Finished> {
  const result = await run(command, args, cwd)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr}`)
  return result
}

/** A temporary folder, removed when the test ends. */
export async function tempDir (t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(joinPath(tmpdir(), `rtc-notify-${name}-`))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Packs the package as `npm publish` would, from the dist/ that `npm test` has just built
 * (`--ignore-scripts`: prepack would build it again).
 * @returns the path of the .tgz
 */
export async function pack (t: Test): Promise<string> {
  if (!existsSync(joinPath(root, 'dist/cjs/package.json'))) throw new Error('dist/ is not built: run npm run build first')
  const dir = await tempDir(t, 'pack')
  const { stdout } = await mustRun('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root)
  const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>
  return joinPath(dir, filename)
}

/** A fresh app with the packed package installed. */
export interface App {
  dir: string
  /** Writes a file into the app (folders created as needed). */
  write (file: string, text: string): Promise<void>
  /** Whether a package is installed at the top of the app's node_modules. */
  has (name: string): boolean
}

/**
 * Creates an app in a temporary folder and installs the tarball and `packages` with npm, from
 * its cache where it can.
 * @param type the app's package.json "type"
 * @param npmArgs more `npm install` arguments (e.g. --omit=peer)
 */
export async function installApp (t: Test, tarball: string, options: { type: 'module' | 'commonjs', packages?: string[], npmArgs?: string[] }): Promise<App> {
  const dir = await tempDir(t, 'app')
  await writeFile(joinPath(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: options.type }))
  await mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts',
    ...(options.npmArgs ?? []), tarball, ...(options.packages ?? [])], dir)
  return {
    dir,
    write: async (file, text) => {
      await mkdir(dirname(joinPath(dir, file)), { recursive: true })
      await writeFile(joinPath(dir, file), text)
    },
    has: name => existsSync(joinPath(dir, 'node_modules', name, 'package.json'))
  }
}

/** Type-checks (and emits) a TypeScript project of an app with this repository's tsc. */
export async function tsc (dir: string, project: string): Promise<Finished> {
  return await run(process.execPath, [tscBin, '-p', project], dir)
}

/** An app process that printed a JSON line when it listened. */
export interface RunningApp {
  /** What the app printed first, parsed: at least the port it listens on. */
  info: { port: number } & Record<string, unknown>
  /** ws://127.0.0.1:PORT */
  ws: string
  /** Ends the app's standard input, which the apps take as the signal to close. */
  stop (): Promise<Finished>
}

/** How a started app says it listens: the port, from what it printed so far, once it has. */
export type Listening = (stdout: string) => RunningApp['info'] | undefined

/** The apps' way: a first line of JSON, with at least the port. */
const jsonLine: Listening = stdout => {
  const end = stdout.indexOf('\n')
  return end === -1 ? undefined : JSON.parse(stdout.slice(0, end)) as RunningApp['info']
}

/**
 * Starts `node <args>` in the app's folder and waits until it says it listens (by default a
 * first line of JSON with the port); killed when the test ends.
 */
export async function startApp (t: Test, dir: string, args: string[], options: { env?: NodeJS.ProcessEnv, listening?: Listening } = {}): Promise<RunningApp> {
  const child = spawn(process.execPath, args, { cwd: dir, env: { ...cleanEnv(), ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  const listening = options.listening ?? jsonLine
  const info = await new Promise<RunningApp['info']>((resolve, reject) => {
    child.stdout.on('data', () => {
      const found = listening(stdout)
      if (found !== undefined) resolve(found)
    })
    exited.then(code => reject(new Error(`node ${args.join(' ')} exited ${code} before listening:\n${stdout}${stderr}`)), () => {})
  })
  return {
    info,
    ws: `ws://127.0.0.1:${info.port}`,
    stop: async () => {
      child.stdin.end()
      return { code: await exited, stdout, stderr }
    }
  }
}

/** Joins two peers to `room` and checks that a NOTIFY from one reaches the other. */
export async function relays (t: Test, ws: string, room = 'x'): Promise<{ a: TestPeer, b: TestPeer }> {
  const a = await join(`${ws}/call/${room}`)
  const b = await join(`${ws}/call/${room}`)
  a.send({ method: 'NOTIFY', data: { sdp: 'offer' } })
  t.same(await b.next(), { method: 'NOTIFY', data: { sdp: 'offer' } }, 'a frame relayed')
  return { a, b }
}

/**
 * Stops an app while two peers are in a call: the app must exit 0 by itself (nothing left
 * open) and its peers hear 1001, the shutdown close.
 */
export async function stopsCleanly (t: Test, app: RunningApp, peers: { a: TestPeer, b: TestPeer }): Promise<Finished> {
  const finished = await app.stop()
  t.equal(finished.code, 0, `exits 0 once closed${finished.stderr === '' ? '' : ': ' + finished.stderr}`)
  t.equal((await peers.a.closed).code, 1001, 'peers hear 1001')
  t.equal((await peers.b.closed).code, 1001)
  return finished
}
