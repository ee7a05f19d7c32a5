import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { defaultMaxConnections, type CliConfig } from './cli-options.js'
import type { NotifyOptions } from './options.js'
import { notify } from './plugin.js'
import { redisStore } from './stores/redis.js'
import type { RoomStore } from './stores/store.js'

const demoPage = new URL('../example/webrtc.html', import.meta.url)
const clientModule = new URL('./client.js', import.meta.url)

/**
 * How long the standalone server waits on a client before closing its socket, in ms. A socket
 * that sends nothing, or dribbles its request, is closed within seconds (Node's own defaults
 * hold it 90 s, 120 s over TLS). A WebSocket, once open, is out of their reach: the heartbeat
 * watches it.
 */
export const socketTimeouts = {
  /** tls: from the TCP connection to a finished TLS handshake */
  tlsHandshake: 5000,
  /** from the connection (over TLS: the handshake) to the end of the request's headers */
  headers: 5000,
  /** from the connection to the end of the request, body included */
  request: 10000,
  /** an idle keep-alive connection between two requests */
  keepAlive: 5000,
  /** no byte either way on a connection that is not (yet) a WebSocket */
  idle: 10000,
  /** how often Node looks for connections past `headers` or `request` */
  check: 1000
} as const

// Files the process may still open when connections are at their cap: Redis, logs, the demo page.
const reservedFiles = 128

/** The plugin options a command line asks for. */
export function pluginOptions (config: CliConfig, store?: RoomStore): NotifyOptions {
  return {
    paths: config.paths,
    hosts: config.hosts,
    origins: config.origins,
    heartbeatInterval: config.heartbeat,
    resumeGrace: config.resumeGrace,
    maxRooms: config.maxRooms,
    maxPeers: config.maxPeers,
    maxPayload: config.maxPayload,
    queueMaxMessages: config.queueMaxMessages,
    queueMaxBytes: config.queueMaxBytes,
    queueMaxAge: config.queueMaxAge,
    iceServers: config.iceServers?.map(urls => ({ urls })),
    turn: config.turnUrls === undefined
      ? undefined
      : { urls: config.turnUrls, secret: config.turnSecret!, ttl: config.turnTtl },
    metrics: config.metrics,
    health: true,
    store
  }
}

/**
 * Builds the standalone server: the plugin, /health, and (unless turned off) the demo call
 * page at / with the browser client at /client.js; short socket timeouts and connection caps.
 * @param tls the PEM certificate and key, for a tls: listener
 * @param store the room store; by default the Redis store with --redis, otherwise in memory
 */
export async function buildServer (config: CliConfig, tls?: { cert: Buffer, key: Buffer }, store?: RoomStore): Promise<FastifyInstance> {
  // Read once, before anything starts: they do not change while the server runs.
  const [page, client] = config.demo ? await Promise.all([readFile(demoPage), readFile(clientModule)]) : []
  const nodeTimeouts = { headersTimeout: socketTimeouts.headers, connectionsCheckingInterval: socketTimeouts.check }
  const app = Fastify({
    logger: { level: config.logLevel },
    // Each join is one request: the plugin logs rooms and refusals itself, without the noise.
    logController: new LogController({ disableRequestLogging: true }),
    // At shutdown, a request still arriving or a response still leaving is cut: a slow client
    // must not hold the process (WebSockets are not concerned: peers hear 1001 before).
    forceCloseConnections: true,
    connectionTimeout: socketTimeouts.idle,
    keepAliveTimeout: socketTimeouts.keepAlive,
    requestTimeout: socketTimeouts.request,
    ...(tls === undefined
      ? { http: nodeTimeouts }
      : { https: { ...tls, ...nodeTimeouts, handshakeTimeout: socketTimeouts.tlsHandshake } })
  })
  capConnections(app.server, {
    total: config.maxConnections ?? maxConnectionsByDefault(),
    perAddress: config.maxConnectionsPerIp
  }, app.log)
  const roomStore = store ?? (config.redis === undefined ? undefined : redisStore({ url: config.redis }))
  await app.register(notify, pluginOptions(config, roomStore))
  if (config.demo) {
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
    app.get('/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(client))
  }
  return app
}

/**
 * Caps the TCP connections `server` holds at once: `total` in all (Node's own maxConnections)
 * and `perAddress` from one remote address. A connection over a cap is closed as soon as it is
 * accepted, before TLS or HTTP spend anything on it, and logged. 0 turns a cap off.
 */
function capConnections (server: HttpServer, caps: { total: number, perAddress: number }, log: FastifyBaseLogger): void {
  const refusals = new RefusalLog(log)
  // Left unset for no cap: whether Node reads 0 as none has not been the same in every version.
  if (caps.total > 0) server.maxConnections = caps.total
  server.on('drop', (data?: { remoteAddress?: string }) => {
    refusals.refused(data?.remoteAddress, `the cap on connections (--max-connections ${caps.total}) is reached`)
  })
  server.on('close', () => refusals.stop())
  if (caps.perAddress === 0) return
  const open = new Map<string, number>()
  // First in line: the TLS and HTTP listeners that come after see a socket already destroyed.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress
    // Already reset by the client: nothing to count.
    if (address === undefined) return
    const count = open.get(address) ?? 0
    if (count >= caps.perAddress) {
      socket.destroy()
      refusals.refused(address, `the cap on connections from one address (--max-connections-per-ip ${caps.perAddress}) is reached`)
      return
    }
    open.set(address, count + 1)
    socket.once('close', () => {
      const left = open.get(address)! - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
}

/**
 * Logs refused connections without letting a flood of them flood the log: the first at once,
 * then at most one line a second, each naming the latest refusal and how many others it stands
 * for (`suppressed`).
 */
class RefusalLog {
  readonly #log: FastifyBaseLogger
  #timer: NodeJS.Timeout | undefined
  #suppressed = 0
  #latest = { remoteAddress: undefined as string | undefined, reason: '' }

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  /** Notes one refused connection from `remoteAddress`, `reason` saying which cap refused it. */
  refused (remoteAddress: string | undefined, reason: string): void {
    this.#latest = { remoteAddress, reason }
    if (this.#timer === undefined) {
      this.#write(0)
    } else {
      this.#suppressed++
    }
  }

  /** Forgets what is pending (the server is closing). */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #write (suppressed: number): void {
    const { remoteAddress, reason } = this.#latest
    this.#log.warn({ remoteAddress, suppressed }, `connection refused: ${reason}`)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#suppressed === 0) return
      // The latest refusal gets this line; the others are counted in it.
      const others = this.#suppressed - 1
      this.#suppressed = 0
      this.#write(others)
    }, 1000).unref()
  }
}

/**
 * The default cap on connections: defaultMaxConnections, lowered to leave some files free
 * when the open-files limit (Linux: /proc/self/limits) is lower, so that the cap refuses and
 * logs before accept() fails with EMFILE and refuses silently.
 */
function maxConnectionsByDefault (): number {
  let soft = Infinity
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))
    if (match !== null) soft = Number(match[1])
  } catch {
    // Not Linux: the fixed default.
  }
  return Math.max(1, Math.min(defaultMaxConnections, soft - reservedFiles))
}
