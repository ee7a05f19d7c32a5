import cluster, { type Worker } from 'node:cluster'
import { readFile } from 'node:fs/promises'
import { parseCli, usage, UsageError, type CliConfig } from './cli-options.js'
import { buildServer } from './server.js'

// After SIGINT/SIGTERM, the process exits even if closing hangs.
const shutdownTimeoutMs = 5000
// A worker that dies after it was serving is replaced after this pause.
const respawnDelayMs = 1000

/** What a worker tells the primary once it listens. */
interface ListeningMessage { rtcNotifyListening: string }

/**
 * Runs the standalone server (with --workers, the primary of its worker processes).
 * @returns the exit code when the server does not start (2: bad command line, 1: failure);
 *   a running server exits 0 on SIGINT/SIGTERM
 */
export async function main (argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  let config: CliConfig
  try {
    const request = parseCli(argv, env)
    if (request.help) {
      process.stdout.write(usage + '\n')
      return 0
    }
    config = request.config
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    return usageFailure(err.message)
  }
  if (config.workers !== undefined && cluster.isPrimary) return runWorkers(config, config.workers)

  let tls
  if (config.transport === 'tls') {
    try {
      tls = { cert: await readFile(config.certfile!), key: await readFile(config.keyfile!) }
    } catch (err) {
      return usageFailure(`cannot read the TLS certificate or key: ${(err as Error).message}`)
    }
  }
  let app
  try {
    app = await buildServer(config, tls)
  } catch (err) {
    process.stderr.write(`rtc-notify: ${(err as Error).message}\n`)
    return 1
  }
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    process.stderr.write(`rtc-notify: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`)
    await app.close()
    return 1
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `${config.transport === 'tls' ? 'https' : 'http'}://${config.host}:${port}/`
  if (cluster.isWorker) process.send!({ rtcNotifyListening: url } satisfies ListeningMessage)
  else announce(config, url)

  let stopping = false
  const stop = (signal: string): void => {
    // A worker may hear a signal twice: from the terminal and from its primary.
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down')
    setTimeout(() => process.exit(0), shutdownTimeoutMs).unref()
    app.close().then(() => process.exit(0), err => {
      app.log.error({ err }, 'error while shutting down')
      process.exit(0)
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  return undefined
}

function announce (config: CliConfig, url: string, workers?: number): void {
  const hint = config.demo ? `Open ${url} in a browser tab to start a call, then open the link it shows in another.\n` : ''
  const processes = workers === undefined ? '' : ` with ${workers} workers`
  process.stdout.write(`rtc-notify listening on ${url}${processes}\n${hint}`)
}

/**
 * The primary of --workers: forks the workers (each runs this command line and shares the
 * listening port through node:cluster), prints the URL once they all listen, replaces a worker
 * that dies while serving, and on SIGINT/SIGTERM stops them all.
 * @returns once every worker is gone: 0 after a signal, or the code of a worker that failed to start
 */
async function runWorkers (config: CliConfig, count: number): Promise<number> {
  const workers = new Set<Worker>()
  let serving = 0
  let stopping = false
  let exitCode = 0
  let allGone = (): void => {}
  const gone = new Promise<void>(resolve => { allGone = resolve })
  const stop = (code: number): void => {
    if (stopping) return
    stopping = true
    exitCode = code
    for (const worker of workers) worker.process.kill('SIGTERM')
    setTimeout(() => {
      for (const worker of workers) worker.process.kill('SIGKILL')
    }, shutdownTimeoutMs).unref()
  }
  const fork = (): void => {
    const worker = cluster.fork()
    let listening = false
    workers.add(worker)
    worker.on('message', (message: Partial<ListeningMessage> | undefined) => {
      if (typeof message?.rtcNotifyListening !== 'string' || listening) return
      listening = true
      if (++serving === count) announce(config, message.rtcNotifyListening, count)
    })
    worker.on('exit', (code, signal) => {
      workers.delete(worker)
      const how = signal ?? `exit code ${String(code)}`
      if (stopping) {
        // Expected.
      } else if (serving < count) {
        // A worker that cannot start (Redis unreachable, port taken): the others go too.
        process.stderr.write(`rtc-notify: a worker failed to start (${how})\n`)
        stop(code === 0 || code === null ? 1 : code)
      } else {
        process.stderr.write(`rtc-notify: a worker died (${how}); starting another\n`)
        setTimeout(() => { if (!stopping) fork() }, respawnDelayMs)
      }
      if (stopping && workers.size === 0) allGone()
    })
  }
  for (let i = 0; i < count; i++) fork()
  process.on('SIGINT', () => stop(0))
  process.on('SIGTERM', () => stop(0))
  await gone
  return exitCode
}

function usageFailure (message: string): number {
  process.stderr.write(`rtc-notify: ${message}\nTry 'rtc-notify --help' for more information.\n`)
  return 2
}

/** The entry point of bin/rtc-notify.js. */
export function run (): void {
  // A worker's channel to its primary would keep it alive: a worker that cannot serve exits.
  const exit = (code: number): void => {
    if (cluster.isWorker) process.exit(code)
    process.exitCode = code
  }
  main(process.argv.slice(2), process.env).then(code => {
    if (code !== undefined) exit(code)
  }, err => {
    process.stderr.write(`rtc-notify: ${(err as Error).message}\n`)
    exit(1)
  })
}
