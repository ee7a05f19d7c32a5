import { Kind, Type, TypeRegistry, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import { InvalidOptionError } from './errors.js'
import type { RoomStore } from './stores/store.js'

/** One entry of RTCConfiguration.iceServers. */
export const IceServer = Type.Object({
  urls: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String())
})
export type IceServer = Static<typeof IceServer>

/** TURN REST API credentials (coturn's `use-auth-secret`). */
export const TurnOptions = Type.Object({
  urls: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  secret: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  ttl: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })
export type TurnOptions = Static<typeof TurnOptions>

const AnyFunction = Type.Function([], Type.Unknown())

// Stores and registries are class instances, their methods on the prototype, which TypeBox's
// object checks (own properties) would refuse: each gets a kind of its own.
function instanceWith<T> (kind: string, methods: readonly string[]): TSchema {
  TypeRegistry.Set(kind, (_schema, value) =>
    typeof value === 'object' && value !== null &&
    methods.every(method => typeof (value as Record<string, unknown>)[method] === 'function'))
  return Type.Unsafe<T>({ [Kind]: kind })
}
const storeMethods = ['start', 'close', 'reserve', 'release', 'attach', 'relay', 'expire', 'leave', 'openSession', 'suspend', 'claim'] as const
const StoreSchema = instanceWith<RoomStore>('RtcNotifyRoomStore', storeMethods)
const RegistrySchema = instanceWith<Registry>('RtcNotifyPromRegistry', ['metrics', 'registerMetric', 'getSingleMetric'])

/** `metrics`: true, or where to register and whether to serve GET /metrics. */
export const MetricsOptions = Type.Object({
  registry: Type.Optional(RegistrySchema),
  route: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
const Seconds = (description: string): ReturnType<typeof Type.Number> => Type.Number({ minimum: 0, description })
const Count = (description: string): ReturnType<typeof Type.Integer> => Type.Integer({ minimum: 1, description })

/** The plugin's options, checked at registration. */
export const NotifyOptionsSchema = Type.Object({
  iceServers: Type.Optional(Type.Union([Type.Array(IceServer), AnyFunction])),
  turn: Type.Optional(TurnOptions),
  hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  origins: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  paths: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^/' }))),
  maxPayload: Type.Optional(Count('bytes in one frame the server relays; larger frames are answered failed')),
  hardMaxPayload: Type.Optional(Count('bytes in one frame at which the connection is closed with 1009')),
  queueMaxMessages: Type.Optional(Count('messages queued per room')),
  queueMaxBytes: Type.Optional(Count('bytes queued per room')),
  queueMaxTotalBytes: Type.Optional(Count('bytes queued in all rooms of this process together')),
  queueMaxAge: Type.Optional(Seconds('seconds a queued message is kept; 0 keeps it while its sender stays')),
  heartbeatInterval: Type.Optional(Seconds('seconds between pings; 0 turns heartbeats off')),
  messageRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'frames per second per connection, sustained' })),
  messageBurst: Type.Optional(Count('frames per connection at once')),
  ipMessageRate: Type.Optional(Type.Number({ minimum: 0, description: 'frames per second from one client address; 0 for no limit' })),
  ipByteRate: Type.Optional(Type.Number({ minimum: 0, description: 'bytes per second from one client address; 0 for no limit' })),
  maxBufferedBytes: Type.Optional(Count('bytes waiting to be sent to one connection before it is closed as too slow (4002)')),
  maxRooms: Type.Optional(Count('rooms in this process')),
  maxPeers: Type.Optional(Count('peers in this process')),
  resumeGrace: Type.Optional(Seconds('seconds a dropped session peer may come back; 0 turns sessions off')),
  authorize: Type.Optional(AnyFunction),
  store: Type.Optional(StoreSchema),
  metrics: Type.Optional(Type.Union([Type.Boolean(), MetricsOptions])),
  health: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

/** ICE servers for a peer: a list, or a function of the handshake request and the room id. */
export type IceServersOption =
  | IceServer[]
  | ((request: FastifyRequest, roomId: string) => IceServer[] | Promise<IceServer[]>)

/**
 * Decides whether a handshake may join a room: true lets it in; false (or a thrown error)
 * refuses it with 403, or with the error's `statusCode` (401, say).
 */
export type AuthorizeHook = (request: FastifyRequest, roomId: string) => boolean | Promise<boolean>

/** Options of `fastify.register(notify, options)`. Durations are in seconds. */
export type NotifyOptions = Omit<Static<typeof NotifyOptionsSchema>, 'iceServers' | 'authorize' | 'store' | 'metrics'> & {
  iceServers?: IceServersOption
  authorize?: AuthorizeHook
  store?: RoomStore
  /**
   * true: register the notify_* metrics in prom-client's default registry and serve them at
   * GET /metrics. An object: `registry` to register in another, `route: false` when the app
   * serves its registry itself.
   */
  metrics?: boolean | { registry?: Registry, route?: boolean }
}

/** The options with every default filled in. */
export type ResolvedOptions = Required<Omit<NotifyOptions, 'turn' | 'hosts' | 'origins' | 'paths' | 'authorize' | 'store' | 'hardMaxPayload'>> &
  Pick<NotifyOptions, 'turn' | 'hosts' | 'origins' | 'paths' | 'authorize' | 'store'> & { hardMaxPayload: number }

/** The defaults (docs/protocol.md#limits). */
export const defaults = {
  iceServers: [{ urls: 'stun:stun.l.google.com:19302' }],
  maxPayload: 64 * 1024,
  queueMaxMessages: 64,
  queueMaxBytes: 256 * 1024,
  queueMaxTotalBytes: 64 * 1024 * 1024,
  queueMaxAge: 0,
  heartbeatInterval: 30,
  messageRate: 50,
  messageBurst: 200,
  ipMessageRate: 1000,
  ipByteRate: 8 * 1024 * 1024,
  maxBufferedBytes: 1024 * 1024,
  maxRooms: 10_000,
  maxPeers: 10_000,
  resumeGrace: 30,
  metrics: false,
  health: false
} satisfies Partial<ResolvedOptions>

// The hard frame limit is at least the relay limit, and by default well above it: a frame a
// little too large is answered, not a reason to end the call.
const defaultHardMaxPayload = 1024 * 1024

// Register options Fastify itself reads; they ride along in the same object.
const fastifyRegisterOptions = new Set(['prefix', 'logLevel', 'logSerializers'])
const checkOptions = TypeCompiler.Compile(NotifyOptionsSchema)

/**
 * Checks the plugin's options and fills in the defaults.
 * @throws InvalidOptionError naming the first wrong option
 */
export function resolveOptions (options: Record<string, unknown>): ResolvedOptions {
  const own: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    if (!fastifyRegisterOptions.has(key) && value !== undefined) own[key] = value
  }
  const error = checkOptions.Errors(own).First()
  if (error !== undefined) {
    const name = error.path.slice(1).replaceAll('/', '.')
    const unknown = name === '' || !(name.split('.')[0] in NotifyOptionsSchema.properties)
    if (unknown) {
      const extra = Object.keys(own).find(key => !(key in NotifyOptionsSchema.properties))
      throw new InvalidOptionError(extra ?? name, 'unknown option')
    }
    const message = name === 'store' ? `expected a RoomStore (methods ${storeMethods.join(', ')})` : error.message.toLowerCase()
    throw new InvalidOptionError(name, message)
  }
  const resolved = { ...defaults, ...own } as ResolvedOptions
  resolved.hardMaxPayload ??= Math.max(defaultHardMaxPayload, resolved.maxPayload)
  if (resolved.hardMaxPayload < resolved.maxPayload) {
    throw new InvalidOptionError('hardMaxPayload', 'must be at least maxPayload')
  }
  return resolved
}
