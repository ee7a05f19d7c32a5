import { readFile } from 'node:fs/promises'
import Fastify, * as fastifyModule from 'fastify'
import type { FastifyInstance } from 'fastify'
import type { CliConfig } from './cli-options.js'
import { capConnections, maxConnectionsByDefault } from './connection-caps.js'
import type { NotifyOptions } from './options.js'
import { notify } from './plugin.js'
import type { RoomStore } from './stores/store.js'

const demoPage = new URL('../example/webrtc.html', import.meta.url)

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

// LogController came with fastify 5.10 (fastify is a peer: the app's may be older); before it,
// the top-level option, deprecated since, does the same.
const LogController = (fastifyModule as Partial<typeof fastifyModule>).LogController
const quietRequests = LogController === undefined
  ? { disableRequestLogging: true }
  : { logController: new LogController({ disableRequestLogging: true }) }

/** The Redis store, loaded only for --redis or --redis-cluster: ioredis is an optional peer dependency. */
async function redisStoreAt (redis: { url: string } | { cluster: string[] }): Promise<RoomStore> {
  try {
    const { redisStore } = await import('./stores/redis.js')
    return redisStore(redis)
  } catch (err) {
    const { code, message } = err as { code?: unknown, message?: unknown }
    if (code === 'ERR_MODULE_NOT_FOUND' && String(message).includes("'ioredis'")) {
      throw new Error('--redis and --redis-cluster need the ioredis package next to fastify-rtc-notify: npm install ioredis, or npx -p fastify-rtc-notify -p ioredis rtc-notify …')
    }
    throw err
  }
}

/** The plugin options a command line asks for. */
export function pluginOptions (config: CliConfig, store?: RoomStore): NotifyOptions {
  return {
    paths: config.paths,
    hosts: config.hosts,
    origins: config.origins,
    heartbeatInterval: config.heartbeat,
    resumeGrace: config.resumeGrace,
    roomSize: config.roomSize,
    maxRooms: config.maxRooms,
    maxPeers: config.maxPeers,
    maxPayload: config.maxPayload,
    maxBufferedBytes: config.maxBufferedBytes,
    ipMessageRate: config.ipMessageRate,
    ipByteRate: config.ipByteRate,
    queueMaxMessages: config.queueMaxMessages,
    queueMaxBytes: config.queueMaxBytes,
    queueMaxAge: config.queueMaxAge,
    iceServers: config.iceServers?.map(urls => ({ urls })),
    turn: config.turnUrls === undefined
      ? undefined
      : { urls: config.turnUrls, secret: config.turnSecret!, ttl: config.turnTtl },
    metrics: config.metrics,
    health: true,
    // The demo page imports the browser client from /client.js.
    serveClient: config.demo,
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
  // Read once, before anything starts: it does not change while the server runs.
  // The page says how many a call holds (a full room is "full" in its own words).
  const page = config.demo
    ? (await readFile(demoPage, 'utf8')).replace('<html lang="en">', `<html lang="en" data-room-size="${config.roomSize ?? 2}">`)
    : undefined
  const nodeTimeouts = { headersTimeout: socketTimeouts.headers, connectionsCheckingInterval: socketTimeouts.check }
  const app = Fastify({
    logger: { level: config.logLevel },
    // Each join is one request: the plugin logs rooms and refusals itself, without the noise.
    ...quietRequests,
    // At shutdown, a request still arriving or a response still leaving is cut: a slow client
    // must not hold the process (WebSockets are not concerned: peers hear 1001 before).
    forceCloseConnections: true,
    // Behind a proxy: request.ip (per-address budgets) and request.host (the Host rule) are
    // the client's, as the trusted proxy forwards them.
    trustProxy: config.trustProxy ?? false,
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
  const redis = config.redisCluster !== undefined ? { cluster: config.redisCluster } : config.redis !== undefined ? { url: config.redis } : undefined
  const roomStore = store ?? (redis === undefined ? undefined : await redisStoreAt(redis))
  await app.register(notify, pluginOptions(config, roomStore))
  if (config.demo) app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
  return app
}
