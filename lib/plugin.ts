import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type WebSocket from 'ws'
import websocket from '@fastify/websocket'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { UnauthorizedError } from './errors.js'
import { handshakeChecker, roomOf } from './handshake.js'
import { iceServersResolver } from './ice.js'
import { metricsRegistry, NotifyCounters } from './metrics.js'
import { resolveOptions, type NotifyOptions } from './options.js'
import { RoomManager, type Seat } from './room-manager.js'
import { MemoryStore } from './stores/memory.js'

/** What `fastify.notify` offers the app. */
export interface NotifyDecorator {
  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number }
  /** Whether the server can take joins now (its store is reachable and it is not closing). */
  available (): boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    notify: NotifyDecorator
  }
}

interface CallParams { '*': string }
interface CallQuery { resume?: string }
type CallRequest = FastifyRequest<{ Params: CallParams, Querystring: CallQuery }>

async function notifyPlugin (fastify: FastifyInstance, rawOptions: NotifyOptions & { prefix?: string }): Promise<void> {
  const options = resolveOptions(rawOptions as Record<string, unknown>)
  const store = options.store ?? new MemoryStore()
  const iceServersFor = iceServersResolver(options.iceServers, options.turn)
  // Only an ICE function needs the handshake request later; otherwise none is kept per peer.
  const keepRequest = typeof options.iceServers === 'function'
  const metrics = options.metrics === false ? undefined : options.metrics === true ? {} : options.metrics
  const counters = metrics === undefined ? undefined : new NotifyCounters()
  // prom-client is an optional peer dependency: loaded only when metrics are on.
  const metricsTarget = metrics === undefined ? undefined : await metricsRegistry(metrics.registry)
  const manager = new RoomManager({
    store,
    log: fastify.log,
    maxPayload: options.maxPayload,
    hardMaxPayload: options.hardMaxPayload,
    queueMaxMessages: options.queueMaxMessages,
    queueMaxBytes: options.queueMaxBytes,
    queueMaxTotalBytes: options.queueMaxTotalBytes,
    queueMaxAgeMs: options.queueMaxAge * 1000,
    heartbeatIntervalMs: options.heartbeatInterval * 1000,
    messageRate: options.messageRate,
    messageBurst: options.messageBurst,
    sourceMessageRate: options.ipMessageRate,
    sourceByteRate: options.ipByteRate,
    maxBufferedBytes: options.maxBufferedBytes,
    maxRooms: options.maxRooms,
    maxPeers: options.maxPeers,
    graceMs: options.resumeGrace * 1000,
    iceServers: peer => iceServersFor(peer.handshake as FastifyRequest | undefined, peer.roomId, peer.peerId),
    metrics: counters
  })
  const checkHandshake = handshakeChecker(options)
  const seats = new WeakMap<IncomingMessage, { seat: Seat, abandon: () => void }>()
  let closing = false

  // Added before @fastify/websocket is registered, so that this runs before its own preClose
  // (which would close the sockets without a code): peers hear 1001.
  fastify.addHook('preClose', async () => {
    closing = true
    await manager.close()
  })
  if (!fastify.hasDecorator('websocketServer')) {
    await fastify.register(websocket, {
      options: { maxPayload: options.hardMaxPayload, perMessageDeflate: false },
      errorHandler: (error, socket) => {
        fastify.log.error({ err: error }, 'websocket handler failed')
        socket.terminate()
      }
    })
  }
  await manager.start()
  if (metricsTarget !== undefined && counters !== undefined) {
    const unregister = metricsTarget.add(() => manager.stats(), counters)
    fastify.addHook('onClose', async () => unregister())
  }

  async function admit (request: CallRequest, _reply: FastifyReply): Promise<void> {
    if (!request.ws) return
    const roomId = roomOf(request.params['*'])
    const queryAt = request.url.indexOf('?')
    const refusal = checkHandshake({
      target: request.raw.url ?? '',
      path: queryAt === -1 ? request.url : request.url.slice(0, queryAt),
      hostHeaders: countHostHeaders(request.raw.rawHeaders),
      host: request.headers.host,
      origin: request.headers.origin,
      roomId,
      query: request.query
    })
    if (refusal !== undefined) throw refusal
    if (options.authorize !== undefined) await authorize(request, roomId)
    const token = request.query.resume
    const seat = token === undefined
      ? await manager.reserve(roomId, request.ip)
      : await manager.claim(roomId, token, request.ip)
    // A seat whose upgrade never completes (the client went away, ws refused the upgrade, a
    // later hook answered instead) is given back when the socket closes.
    const socket = request.raw.socket
    const abandon = (): void => manager.release(seat)
    if (socket.destroyed) return abandon()
    socket.once('close', abandon)
    seats.set(request.raw, { seat, abandon })
  }

  async function authorize (request: CallRequest, roomId: string): Promise<void> {
    let allowed: boolean
    try {
      allowed = await options.authorize!(request, roomId)
    } catch (err) {
      if (typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err
      request.log.info({ err }, 'authorize hook threw')
      throw new UnauthorizedError()
    }
    if (allowed !== true) throw new UnauthorizedError()
  }

  await fastify.register(async function routes (app) {
    app.route<{ Params: CallParams, Querystring: CallQuery }>({
      method: 'GET',
      // A wildcard, not '/call/:id': Fastify caps parametric segments at 100 characters
      // (maxParamLength, a server option), and room ids may have 256.
      url: '/call/*',
      // Plain HTTP requests to this route get @fastify/websocket's 404.
      websocket: true,
      onRequest: admit,
      onError: async (request, _reply, error) => {
        counters?.handshakeRejected(error.statusCode ?? 500)
        request.log.info({ room: request.params['*'], statusCode: error.statusCode, code: error.code }, `handshake refused: ${error.message}`)
      },
      handler: (socket, request) => {
        const pending = seats.get(request.raw)
        if (pending === undefined) return socket.close(1011, 'no seat')
        seats.delete(request.raw)
        releaseHandshake(request.raw, socket)
        request.raw.socket.removeListener('close', pending.abandon)
        manager.connect(pending.seat, socket, keepRequest ? request : undefined)
      }
    })
    if (metricsTarget !== undefined && metrics?.route !== false) {
      const { registry } = metricsTarget
      app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
    }
    if (options.health) {
      app.get('/health', async (_request, reply) => {
        const up = available()
        return reply.code(up ? 200 : 503).send({ status: up ? 'ok' : 'unavailable', ...manager.stats() })
      })
    }
  }, { prefix: rawOptions.prefix })

  const available = (): boolean => !closing && store.available
  fastify.decorate('notify', { stats: () => manager.stats(), available } satisfies NotifyDecorator)
}

function countHostHeaders (rawHeaders: string[]): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === 4 && rawHeaders[i].toLowerCase() === 'host') n++
  return n
}

/**
 * Lets go of the HTTP objects of an upgraded handshake, which would otherwise live as long as
 * the connection (half of an idle peer's memory): the ServerResponse @fastify/websocket made
 * stays attached to the socket, and with it the IncomingMessage and Fastify's Request and Reply;
 * @fastify/websocket's error listener holds them too. The room manager installs its own error
 * listener. (Fastify's onResponse hooks then do not run when the connection ends.)
 */
function releaseHandshake (request: IncomingMessage, socket: WebSocket): void {
  const raw = request.socket as Socket & { _httpMessage?: ServerResponse | null }
  raw._httpMessage?.detachSocket(raw)
  socket.removeAllListeners('error')
}

/**
 * WebRTC signaling over WebSocket at `{prefix}/call/:id`: register it with
 * `fastify.register(notify, options)`.
 */
export const notify = fp(notifyPlugin, {
  fastify: '5.x',
  name: 'fastify-rtc-notify'
})
export default notify
