import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import type { Test } from 'tap'
import WebSocket from 'ws'
import type { RunningCli } from '../helpers/cli.js'
import { join, TestPeer, until } from '../helpers/client.js'
import { startInstance } from '../redis/instances.js'
import type { RedisServer } from '../redis/redis-server.js'
import { startNginx, type RunningNginx } from './nginx.js'

/** The public name the tests' clients ask nginx for (example/nginx.conf's server_name). */
export const publicHost = 'rtc.example.com'

/** Two instances sharing one Redis, behind nginx running example/nginx.conf. */
export interface Deployment {
  instances: [RunningCli, RunningCli]
  nginx: RunningNginx
  /** The certificate nginx presents. */
  cert: Buffer
}

/** How a test client reaches nginx. */
export interface Via {
  /** The loopback address it connects from (default 127.0.0.1). */
  from?: string
  /** Its Host header (default rtc.example.com). */
  host?: string
  origin?: string
  /** Other headers it sends. */
  headers?: Record<string, string>
}

/**
 * Starts two `rtc-notify --redis` instances with `flags` and nginx in front of them; all
 * stopped when the test ends.
 */
export async function startDeployment (t: Test, redis: RedisServer, flags: string[]): Promise<Deployment> {
  const instances = await Promise.all([startInstance(t, redis.url, flags), startInstance(t, redis.url, flags)])
  const tls = certificateFor(t, publicHost)
  const nginx = await startNginx(t, [new URL(instances[0].url).host, new URL(instances[1].url).host], tls)
  return { instances, nginx, cert: readFileSync(tls.cert) }
}

/** A self-signed certificate for `name` made with openssl; removed when the test ends. */
function certificateFor (t: Test, name: string): { cert: string, key: string } {
  const dir = mkdtempSync(joinPath(tmpdir(), 'rtc-notify-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = joinPath(dir, 'cert.pem')
  const key = joinPath(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' })
  return { cert, key }
}

/** The wss:// URL of `path` at nginx, and the ws options of a client that comes `via`. */
export function through (deployment: Deployment, path: string, via: Via = {}): [string, WebSocket.ClientOptions] {
  // ws hands TLS options it does not declare (servername) on to https.request.
  const options: WebSocket.ClientOptions & Pick<ConnectionOptions, 'servername'> = {
    // The client connects to rtc.example.com (TLS checks that name), whatever Host it sends.
    ca: deployment.cert,
    servername: publicHost,
    localAddress: via.from,
    origin: via.origin,
    headers: { host: via.host ?? publicHost, ...via.headers }
  }
  return [`${deployment.nginx.wss}${path}`, options]
}

/** A peer that joined `path` through nginx. */
export async function joinThrough (deployment: Deployment, path: string, via?: Via): Promise<TestPeer> {
  return await join(...through(deployment, path, via))
}

/**
 * A handshake through nginx that should be refused.
 * @returns its status and, for a refusal by an instance, the error code of its JSON body
 *   (101 if it was accepted)
 */
export async function refusal (deployment: Deployment, path: string, via?: Via): Promise<{ status: number, code?: string }> {
  const socket = new WebSocket(...through(deployment, path, via))
  return await new Promise((resolve, reject) => {
    socket.once('open', () => { socket.close(); resolve({ status: 101 }) })
    socket.once('error', reject)
    socket.once('unexpected-response', (_request, response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.once('end', () => {
        let code: string | undefined
        try {
          code = (JSON.parse(body) as { code?: string }).code
        } catch {
          // Not an instance's answer (nginx's own page).
        }
        const status = response.statusCode ?? 0
        resolve(code === undefined ? { status } : { status, code })
      })
    })
  })
}

/** The peers each instance holds a seat for, from its own /health (not through nginx). */
export async function peersAt (deployment: Deployment): Promise<[number, number]> {
  const counts = await Promise.all(deployment.instances.map(async instance => {
    const health = await (await fetch(instance.url + 'health')).json() as { peers: number }
    return health.peers
  }))
  return counts as [number, number]
}

/**
 * Waits until the instances hold `total` peers together, and returns how many each holds.
 */
export async function settledPeers (deployment: Deployment, total: number): Promise<[number, number]> {
  let counts: [number, number] = [0, 0]
  await until(async () => {
    counts = await peersAt(deployment)
    return counts[0] + counts[1] === total
  })
  return counts
}
