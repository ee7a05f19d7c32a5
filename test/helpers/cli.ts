import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'

const bin = new URL('../../bin/rtc-notify.js', import.meta.url).pathname

/** A running standalone server process. */
export interface RunningCli {
  child: ChildProcess
  /** The URL it printed, e.g. http://127.0.0.1:1234/ */
  url: string
  /** ws:// or wss:// form of `url`, without the trailing slash */
  ws: string
  stdout (): string
  stderr (): string
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>
}

/**
 * Spawns `rtc-notify` with `args` and waits for it to print where it listens; killed when the
 * test ends.
 */
export async function startCli (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', chunk => { out += String(chunk) })
  child.stderr.on('data', chunk => { err += String(chunk) })
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /listening on (\S+)/.exec(out)
      if (match !== null) resolve(match[1])
    }
    child.stdout.on('data', check)
    exited.then(code => reject(new Error(`rtc-notify exited with ${code} before listening: ${err}`)), () => {})
  })
  return { child, url, ws: url.replace(/^http/, 'ws').replace(/\/$/, ''), stdout: () => out, stderr: () => err, exited }
}

/** Runs `rtc-notify` to completion (for flags that make it exit) and returns what it printed. */
export async function runCli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', chunk => { stdout += String(chunk) })
  child.stderr.on('data', chunk => { stderr += String(chunk) })
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  return { code, stdout, stderr }
}
