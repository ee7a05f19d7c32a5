import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** nginx: $NGINX_PATH, or where Debian's package puts it. */
const nginxPath = process.env.NGINX_PATH ?? '/usr/sbin/nginx'

/** The deployment config the README quotes. */
const deployment = new URL('../../example/nginx.conf', import.meta.url)

/** A running nginx. */
export interface RunningNginx {
  /** The loopback port it listens on (TLS). */
  port: number
  /** wss://127.0.0.1:PORT */
  wss: string
  /** Its access log so far (example/nginx.conf's rtc_notify format). */
  accessLog (): string
  stderr (): string
}

/**
 * example/nginx.conf as it would be deployed here: the same text, with the README's example
 * addresses and paths replaced by the test's. Each one must be found exactly once, so that the
 * file cannot change under the test unnoticed.
 */
export function deploymentConfig (values: { upstreams: [string, string], port: number, cert: string, key: string, accessLog: string }): string {
  const replacements: Array<[string, string]> = [
    ['server 10.0.0.1:8080;', `server ${values.upstreams[0]};`],
    ['server 10.0.0.2:8080;', `server ${values.upstreams[1]};`],
    ['listen 443 ssl;', `listen 127.0.0.1:${values.port} ssl;`],
    ['/etc/ssl/certs/rtc.example.com.pem', values.cert],
    ['/etc/ssl/private/rtc.example.com.key', values.key],
    ['/var/log/nginx/rtc-notify.access.log', values.accessLog]
  ]
  let text = readFileSync(deployment, 'utf8')
  for (const [from, to] of replacements) {
    const parts = text.split(from)
    if (parts.length !== 2) throw new Error(`example/nginx.conf: expected ${JSON.stringify(from)} once, found it ${parts.length - 1} times`)
    text = parts.join(to)
  }
  return text
}

/**
 * Starts nginx as the current user on a free loopback port (below 32768) with
 * example/nginx.conf in front of `upstreams` (host:port), TLS with `tls`; everything it writes
 * (pid, temp files, logs) goes to a directory of its own. Stopped when the test ends.
 */
export async function startNginx (t: Test, upstreams: [string, string], tls: { cert: string, key: string }): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'rtc-notify-nginx-'))
  // nginx stops before its directory goes.
  let stopNginx = async (): Promise<void> => {}
  t.teardown(async () => {
    await stopNginx()
    rmSync(dir, { recursive: true, force: true })
  })
  const accessLog = join(dir, 'access.log')
  const pidFile = join(dir, 'nginx.pid')
  // What the deployment's main nginx.conf would say, pointed at `dir`: the paths compiled into
  // Debian's nginx (/var/lib/nginx, /run, /var/log/nginx) are root's.
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${pidFile};
error_log stderr;
events { worker_connections 2048; }
http {
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/rtc-notify.conf;
}
`)
  for (let attempt = 1; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    writeFileSync(join(dir, 'rtc-notify.conf'), deploymentConfig({ upstreams, port, ...tls, accessLog }))
    // -e (nginx 1.19.5+): the log nginx writes to before it has read the config is not the
    // compiled-in /var/log/nginx/error.log either.
    const child = spawn(nginxPath, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let stderr = ''
    child.stderr.on('data', chunk => { stderr += String(chunk) })
    const exited = new Promise<void>(resolve => child.once('close', () => resolve()))
    let running = true
    void exited.then(() => { running = false })
    child.once('error', err => { stderr += String(err) })
    // nginx writes its pid file once its listening socket is bound (a probe of the port could
    // reach another process that holds it).
    while (running && !existsSync(pidFile)) await new Promise(resolve => setTimeout(resolve, 20))
    if (running) {
      stopNginx = async () => await stop(child.pid!, exited)
      return {
        port,
        wss: `wss://127.0.0.1:${port}`,
        accessLog: () => { try { return readFileSync(accessLog, 'utf8') } catch { return '' } },
        stderr: () => stderr
      }
    }
    // Another process had the port.
    if (!stderr.includes('Address already in use') || attempt === 5) throw new Error(`nginx exited before listening: ${stderr}`)
  }
}

/** Fast shutdown (SIGTERM): the master stops its worker; killed if that takes more than 5 s. */
async function stop (pid: number, exited: Promise<void>): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(true), 5000) })
  if (await Promise.race([exited.then(() => false), late])) process.kill(pid, 'SIGKILL')
  clearTimeout(timer)
}
