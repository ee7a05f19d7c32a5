import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
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
  const cli = spawnCli(t, args, env)
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /listening on (\S+)/.exec(cli.stdout())
      if (match !== null) resolve(match[1])
    }
    cli.child.stdout!.on('data', check)
    cli.exited.then(code => reject(new Error(`rtc-notify exited with ${code} before listening: ${cli.stderr()}`)), () => {})
  })
  return { ...cli, url, ws: url.replace(/^http/, 'ws').replace(/\/$/, '') }
}

/**
 * Spawns `rtc-notify -l tcp:127.0.0.1:PORT` with `args` on a free port chosen here (below 32768),
 * for a server that will not say where it listens (-q), and waits until its /health answers;
 * killed when the test ends.
 */
export async function startCliOnChosenPort (t: Test, args: string[]): Promise<RunningCli> {
  for (let attempt = 1; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    const url = `http://127.0.0.1:${port}/`
    const cli = spawnCli(t, ['-l', `tcp:127.0.0.1:${port}`, ...args])
    let exited = false
    void cli.exited.then(() => { exited = true })
    while (!exited && !(await answers(url + 'health'))) await new Promise(resolve => setTimeout(resolve, 50))
    if (!exited) return { ...cli, url, ws: url.replace(/^http/, 'ws').replace(/\/$/, '') }
    // Another process had the port.
    if (!/EADDRINUSE/.test(cli.stderr()) || attempt === 5) throw new Error(`rtc-notify exited before listening: ${cli.stderr()}`)
  }
}

async function answers (url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok
  } catch {
    return false
  }
}

function spawnCli (t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Omit<RunningCli, 'url' | 'ws'> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', chunk => { out += String(chunk) })
  child.stderr.on('data', chunk => { err += String(chunk) })
  const exited = new Promise<number | string>(resolve => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { child, stdout: () => out, stderr: () => err, exited }
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

/** A raw TCP (or TLS) connection to a server, for what a browser would never do. */
export interface RawSocket {
  socket: Socket
  /** Resolves once connected (for TLS: once the handshake is done). */
  connected: Promise<void>
  /** Resolves when the server closed it, with every byte it had sent. */
  closed: Promise<string>
}

/**
 * Opens a connection to 127.0.0.1:`port` that reads whatever the server sends and otherwise
 * does nothing; destroyed when the test ends.
 * @param options.localAddress the loopback address to connect from (e.g. 127.0.0.2: another client)
 * @param options.tls complete a TLS handshake (trusting any certificate) before anything else
 */
export function openSocket (t: Test, port: number, options: { localAddress?: string, tls?: boolean } = {}): RawSocket {
  const tcp = netConnect({ port, host: '127.0.0.1', localAddress: options.localAddress })
  const socket: Socket = options.tls === true ? tlsConnect({ socket: tcp, rejectUnauthorized: false }) : tcp
  let received = ''
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { received += chunk })
  socket.on('error', () => {})
  const connected = new Promise<void>((resolve, reject) => {
    socket.once(options.tls === true ? 'secureConnect' : 'connect', () => resolve())
    socket.once('close', () => reject(new Error('closed before it was connected')))
  })
  connected.catch(() => {})
  const closed = new Promise<string>(resolve => socket.once('close', () => resolve(received)))
  t.teardown(() => { socket.destroy(); tcp.destroy() })
  return { socket, connected, closed }
}

/** Resolves with `promise`'s value, or rejects if it takes longer than `ms`. */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms / 1000} s`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A self-signed certificate for 127.0.0.1 made with openssl; removed when the test ends. */
export function makeCertificate (t: Test): { cert: string, key: string } {
  const dir = mkdtempSync(joinPath(tmpdir(), 'rtc-notify-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = joinPath(dir, 'cert.pem')
  const key = joinPath(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  return { cert, key }
}

/** The JSON log lines a server printed on stdout. */
export function logLines (stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as Record<string, unknown>)
}
