import cluster, { type Worker } from 'node:cluster'
import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { parseCli, usage, UsageError, type CliConfig } from './cli-options.js'
import { maxConnectionsByDefault } from './connection-caps.js'
import { RoomRouter } from './room-router.js'
import { serveRoutedConnections } from './routed-connections.js'
import { buildServer } from './server.js'

// After SIGINT/SIGTERM, the process exits even if closing hangs.
const shutdownTimeoutMs = 5000
// The primary of --workers kills a worker this long after a signal: later than the worker's own
// shutdown timeout, so that a worker that hangs says so itself.
const workerKillDelayMs = shutdownTimeoutMs + 2000
// A worker that dies after it was serving is replaced after this pause.
const respawnDelayMs = 1000
// Tells a worker its slot: the rooms it holds are those whose id hashes to it.
const slotVariable = 'RTC_NOTIFY_WORKER_SLOT'

/** What a worker tells the primary once it can take connections. */
interface ReadyMessage { rtcNotifyReady: true }

/**
 * Runs the standalone server (with --workers, the primary of its worker processes, or one of them).
 * @returns the exit code when the server does not start (2: bad command line, 1: failure);
 *   a running server exits on SIGINT/SIGTERM, 0 when it closed cleanly, 1 otherwise
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
  if (config.workers !== undefined) {
    return cluster.isPrimary ? await runWorkers(config, config.workers) : await runWorker(config, Number(env[slotVariable]))
  }

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
  announce(config, `${config.transport === 'tls' ? 'https' : 'http'}://${config.host}:${port}/`)
  stopOnSignals(app)
  return undefined
}

/**
 * A worker of --workers: the server, serving the connections the primary hands it (it does
 * not listen itself); it tells the primary once it can take them.
 * @param slot the worker's slot (see RoomRouter)
 * @returns 1 when the server does not start; undefined once it serves
 */
async function runWorker (config: CliConfig, slot: number): Promise<number | undefined> {
  let app
  try {
    app = await buildServer(config)
    serveRoutedConnections(app, slot)
    await app.ready()
  } catch (err) {
    process.stderr.write(`rtc-notify: ${(err as Error).message}\n`)
    return 1
  }
  process.send!({ rtcNotifyReady: true } satisfies ReadyMessage)
  stopOnSignals(app)
  return undefined
}

/** Closes the server on SIGINT/SIGTERM (peers hear 1001), then exits 0, or 1 when closing failed. */
function stopOnSignals (app: FastifyInstance): void {
  let stopping = false
  const stop = (signal: string): void => {
    // A worker may hear a signal twice: from the terminal and from its primary.
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down')
    void shutdown(app, shutdownTimeoutMs).then(code => process.exit(code))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/**
 * Closes the server, giving up after `timeoutMs`; a failure or a timeout is logged as fatal.
 * @returns the exit code: 0 when it closed cleanly, 1 when closing failed or did not finish in time
 */
export async function shutdown (app: FastifyInstance, timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<number>(resolve => {
    timer = setTimeout(() => {
      app.log.fatal(`shutdown did not finish within ${timeoutMs / 1000} s`)
      resolve(1)
    }, timeoutMs)
  })
  const closed = app.close().then(() => 0, (err: unknown) => {
    app.log.fatal({ err }, 'shutdown failed')
    return 1
  })
  try {
    return await Promise.race([closed, timedOut])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Says where the server listens. With -q, only when the port was 0 (the one way to learn the
 * port the system chose), and without the hint.
 */
function announce (config: CliConfig, url: string, workers?: number): void {
  const quiet = config.logLevel === 'fatal'
  if (quiet && config.port !== 0) return
  const hint = config.demo && !quiet ? `Open ${url} in a browser tab to start a call, then open the link it shows in another.\n` : ''
  const processes = workers === undefined ? '' : ` with ${workers} workers`
  process.stdout.write(`rtc-notify listening on ${url}${processes}\n${hint}`)
}

/**
 * The primary of --workers: forks one worker per slot, listens once they are all ready and
 * hands each connection to a worker (RoomRouter: a room's handshakes all go to its slot's
 * worker), prints the URL, replaces a worker that dies while serving in the same slot, and on
 * SIGINT/SIGTERM stops them all.
 * @returns once every worker is gone: after a signal, 0 if every worker closed cleanly and 1
 *   otherwise; 1 if the port cannot be listened on; or the code of a worker that failed to start
 */
async function runWorkers (config: CliConfig, count: number): Promise<number> {
  const router = await RoomRouter.create({
    slots: count,
    logLevel: config.logLevel,
    caps: { total: config.maxConnections ?? maxConnectionsByDefault(), perAddress: config.maxConnectionsPerIp }
  })
  const workers = new Set<Worker>()
  let ready = 0
  let serving = false
  let stopping = false
  let exitCode = 0
  let allGone = (): void => {}
  const gone = new Promise<void>(resolve => { allGone = resolve })
  const stop = (code: number): void => {
    if (stopping) return
    stopping = true
    exitCode = code
    void router.close()
    for (const worker of workers) worker.process.kill('SIGTERM')
    if (workers.size === 0) allGone()
    setTimeout(() => {
      if (workers.size === 0) return
      process.stderr.write(`rtc-notify: ${workers.size} worker(s) did not stop within ${workerKillDelayMs / 1000} s; killing them\n`)
      for (const worker of workers) worker.process.kill('SIGKILL')
    }, workerKillDelayMs).unref()
  }
  const listen = async (): Promise<void> => {
    try {
      const port = await router.listen(config.host, config.port)
      serving = true
      announce(config, `http://${config.host}:${port}/`, count)
    } catch (err) {
      process.stderr.write(`rtc-notify: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`)
      stop(1)
    }
  }
  const fork = (slot: number): void => {
    const worker = cluster.fork({ [slotVariable]: String(slot) })
    workers.add(worker)
    worker.on('message', (message: Partial<ReadyMessage> | undefined) => {
      if (message?.rtcNotifyReady !== true || stopping) return
      router.attach(slot, worker)
      if (++ready === count) void listen()
    })
    worker.on('exit', (code, signal) => {
      workers.delete(worker)
      router.detach(slot)
      const how = signal ?? `exit code ${String(code)}`
      if (stopping) {
        // Expected; but a worker whose shutdown failed (it said why) or that had to be killed is not clean.
        if (signal === 'SIGKILL' || (code !== null && code !== 0)) exitCode ||= 1
      } else if (!serving) {
        // A worker that cannot start (Redis unreachable): the others go too.
        process.stderr.write(`rtc-notify: a worker failed to start (${how})\n`)
        stop(code === 0 || code === null ? 1 : code)
      } else {
        // Until the new worker is ready, the handshakes of this slot's rooms are answered 503.
        if (config.logLevel !== 'fatal') process.stderr.write(`rtc-notify: a worker died (${how}); starting another\n`)
        setTimeout(() => { if (!stopping) fork(slot) }, respawnDelayMs)
      }
      if (stopping && workers.size === 0) allGone()
    })
  }
  for (let slot = 0; slot < count; slot++) fork(slot)
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
