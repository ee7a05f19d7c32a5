import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type WebSocket from 'ws'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, LogLevel } from 'fastify'
import fp from 'fastify-plugin'
import { readBrowserModules } from './browser-modules.js'
import { BadRoomSizeError, UnauthorizedError } from './errors.js'
import { identityText } from './identity.js'
import { NotifyApi, type NotifyDecorator } from './notify-api.js'
import { handshakeChecker, roomOf } from './handshake.js'
import { iceServersResolver } from './ice.js'
import { metricsRegistry, NotifyCounters } from './metrics.js'
import { resolveOptions, type HandshakeRequest, type NotifyOptions } from './options.js'
import { PendingSeats } from './pending-seats.js'
import { RoomManager } from './room-manager.js'
import { MemoryStore } from './stores/memory.js'
import { arrangeUpgrades } from './upgrades.js'
import { CloseCode, maxRoomSize } from './wire.js'

export type { NotifyDecorator } from './notify-api.js'

declare module 'fastify' {
  interface FastifyInstance {
    notify: NotifyDecorator
  }
}

interface CallParams { '*': string }
type CallQuery = Record<string, string | string[] | undefined> & { resume?: string }
type CallRequest = FastifyRequest<{ Params: CallParams, Querystring: CallQuery }>
/** Options Fastify itself reads from `register`; the plugin honours them too. */
interface FastifyRegisterOptions { prefix?: string, logLevel?: LogLevel }

async function notifyPlugin (fastify: FastifyInstance, rawOptions: NotifyOptions & FastifyRegisterOptions): Promise<void> {
  const options = resolveOptions(rawOptions as Record<string, unknown>)
  const prefix = rawOptions.prefix ?? ''
  // A plugin that is not encapsulated gets no logger of its own from Fastify: the register
  // option logLevel is honoured here, for the room manager and the plugin's routes alike.
  const log = rawOptions.logLevel === undefined ? fastify.log : fastify.log.child({}, { level: rawOptions.logLevel })
  const store = options.store ?? new MemoryStore()
  const iceServersFor = iceServersResolver(options.iceServers, options.turn)
  // Only an ICE function needs the handshake request later; otherwise none is kept per peer.
  const keepRequest = typeof options.iceServers === 'function'
  const metrics = options.metrics === false ? undefined : options.metrics === true ? {} : options.metrics
  const counters = metrics === undefined ? undefined : new NotifyCounters()
  // prom-client is an optional peer dependency: loaded only when metrics are on.
  const metricsTarget = metrics === undefined ? undefined : await metricsRegistry(metrics.registry)
  const api: NotifyApi = new NotifyApi((err, event) => log.error({ err, event }, 'a listener of fastify.notify failed'),
    () => manager, () => available())
  const manager: RoomManager = new RoomManager({
    store,
    log,
    events: api,
    shareIdentity: options.shareIdentity,
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
    iceServers: peer => iceServersFor(peer.handshake as HandshakeRequest | undefined, peer.roomId, peer.peerId),
    metrics: counters
  })
  const checkHandshake = handshakeChecker(options)
  const pending = new PendingSeats(manager)
  let closing = false

  fastify.addHook('preClose', async () => {
    closing = true
    await manager.close()
  })
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
      hostHeaders: countHostHeaders(request.raw.rawHeaders ?? []),
      // With Fastify's trustProxy, the host the client asked the proxy for (X-Forwarded-Host).
      host: request.headers.host === undefined ? undefined : request.host,
      origin: request.headers.origin,
      roomId,
      query: request.query
    })
    if (refusal !== undefined) throw refusal
    const identity = options.authorize === undefined ? undefined : await authorize(request, roomId)
    const token = request.query.resume
    // An in-process handshake (injectWS) has no address.
    const source = request.ip ?? 'in-process'
    const seat = token === undefined
      ? await manager.reserve(roomId, source, identity, await roomSize(request, roomId))
      : await manager.claim(roomId, token, source, identity)
    pending.hold(request.raw, seat)
  }

  // @returns the identity as JSON text, or undefined for `true`
  async function authorize (request: CallRequest, roomId: string): Promise<string | undefined> {
    let answer
    try {
      answer = await options.authorize!(request, roomId)
    } catch (err) {
      if (typeof (err as { statusCode?: unknown }).statusCode === 'number') throw err
      request.log.info({ err }, 'authorize hook threw')
      throw new UnauthorizedError()
    }
    if (answer !== true && (typeof answer !== 'object' || answer === null || Array.isArray(answer))) throw new UnauthorizedError()
    return identityText(answer)
  }

  async function roomSize (request: CallRequest, roomId: string): Promise<number> {
    const chosen = options.roomSize
    if (typeof chosen === 'number') return chosen
    const size = await chosen(request, roomId)
    if (!Number.isInteger(size) || size < 2 || size > maxRoomSize) throw new BadRoomSizeError(String(size))
    return size
  }

  // A refused handshake is an expected event: one line at info (its code and why), never a
  // stack; an unexpected failure is logged as an error.
  function refuse (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const statusCode = error.statusCode ?? 500
    counters?.handshakeRejected(statusCode)
    const room = (request.params as Partial<CallParams>)['*']
    api.fire('handshake:refused', { roomId: room, statusCode, code: error.code, at: Date.now() })
    if (statusCode >= 500 && error.code?.startsWith('FST_RTC_NOTIFY_') !== true) {
      request.log.error({ err: error, room, client: request.ip }, 'handshake failed')
    } else {
      request.log.info({ room, client: request.ip, statusCode, code: error.code }, `handshake refused: ${error.message}`)
    }
    return reply.code(statusCode).send({ statusCode, code: error.code, error: STATUS_CODES[statusCode], message: error.message })
  }

  await fastify.register(async function routes (app) {
    const upgrades = await arrangeUpgrades(fastify, app, { maxPayload: options.hardMaxPayload },
      url => url.startsWith(`${prefix}/call/`))
    app.setErrorHandler(refuse)
    app.route<{ Params: CallParams, Querystring: CallQuery }>({
      method: 'GET',
      // A wildcard, not '/call/:id': Fastify caps parametric segments at 100 characters
      // (maxParamLength, a server option), and room ids may have 256.
      url: '/call/*',
      // Plain HTTP requests to this route get @fastify/websocket's 404.
      websocket: true,
      onRequest: admit,
      // A reply goes out instead of an upgrade, or the client went away: the seat goes back.
      onSend: async (request, _reply, payload) => {
        pending.drop(request.raw)
        return payload
      },
      onRequestAbort: async request => pending.drop(request.raw),
      handler: (socket, request) => {
        upgrades.adopt(socket)
        const seat = pending.take(request.raw)
        if (seat === undefined) return socket.close(CloseCode.InternalError, 'no seat')
        releaseHandshake(request.raw, socket)
        manager.connect(seat, socket, keepRequest ? request : undefined)
      }
    })
    if (metricsTarget !== undefined && metrics?.route !== false) {
      const { registry } = metricsTarget
      app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
    }
    if (options.serveClient) {
      for (const [name, source] of await readBrowserModules()) {
        app.get(`/${name}`, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(source))
      }
    }
    if (options.health) {
      app.get('/health', async (_request, reply) => {
        const up = available()
        return reply.code(up ? 200 : 503).send({ status: up ? 'ok' : 'unavailable', ...manager.stats() })
      })
    }
  }, { prefix, logLevel: rawOptions.logLevel })

  const available = (): boolean => !closing && store.available
  fastify.decorate('notify', api)
}

function countHostHeaders (rawHeaders: readonly string[]): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.length === 4 && rawHeaders[i]!.toLowerCase() === 'host') n++
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
  const raw = request.socket as (Socket & { _httpMessage?: ServerResponse | null }) | undefined
  if (raw?._httpMessage != null) raw._httpMessage.detachSocket(raw)
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
