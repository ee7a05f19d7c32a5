import { readFile } from 'node:fs/promises'
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import type { CliConfig } from './cli-options.js'
import type { NotifyOptions } from './options.js'
import { notify } from './plugin.js'
import { redisStore } from './stores/redis.js'
import type { RoomStore } from './stores/store.js'

const demoPage = new URL('../example/webrtc.html', import.meta.url)
const clientModule = new URL('./client.js', import.meta.url)
const wireModule = new URL('./wire.js', import.meta.url)

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
 * page at / with the browser client at /client.js.
 * @param tls the PEM certificate and key, for a tls: listener
 * @param store the room store; by default the Redis store with --redis, otherwise in memory
 */
export async function buildServer (config: CliConfig, tls?: { cert: Buffer, key: Buffer }, store?: RoomStore): Promise<FastifyInstance> {
  // Read once, before anything starts: they do not change while the server runs.
  const [page, client, wire] = config.demo ? await Promise.all([readFile(demoPage), readFile(clientModule), readFile(wireModule)]) : []
  const app = Fastify({
    logger: { level: config.logLevel },
    // Each join is one request: the plugin logs rooms and refusals itself, without the noise.
    logController: new LogController({ disableRequestLogging: true }),
    ...(tls === undefined ? {} : { https: tls })
  })
  const roomStore = store ?? (config.redis === undefined ? undefined : redisStore({ url: config.redis }))
  await app.register(notify, pluginOptions(config, roomStore))
  if (config.demo) {
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
    app.get('/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(client))
    app.get('/wire.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(wire))
  }
  return app
}
