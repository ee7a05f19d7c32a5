import type { FastifyRequest } from 'fastify'
import type { ServableRegistry } from './metrics.js'
import { InvalidOptionError } from './errors.js'
import { optionProblem, type CheckedOptions } from './options-schema.js'
import type { RoomStore } from './stores/store.js'

/** One entry of `RTCConfiguration.iceServers`. */
export interface IceServer {
  /** One URL or several: `stun:host:port`, `turn:host:port?transport=udp`, `turns:...`. */
  urls: string | string[]
  username?: string
  credential?: string
}

/** TURN REST API credentials, the scheme coturn checks with `use-auth-secret`. */
export interface TurnOptions {
  /** The TURN server's URLs. */
  urls: string | string[]
  /** The shared secret; a list during a rotation (the first signs, the TURN server accepts all). */
  secret: string | string[]
  /** Seconds the credentials live. Default 86400 (a day). */
  ttl?: number
}

/** The handshake request as `authorize` and an `iceServers` function see it: its query typed. */
export type HandshakeRequest = FastifyRequest<{ Querystring: Record<string, string | string[] | undefined> }>

/** ICE servers for a peer: a list, or a function of the handshake request and the room id. */
export type IceServersOption =
  | IceServer[]
  | ((request: HandshakeRequest, roomId: string) => IceServer[] | Promise<IceServer[]>)

/**
 * Decides whether a handshake may join a room, before the upgrade and before a seat is taken:
 * `true` lets it in; an object lets it in as that identity (e.g. `{ userId: 'u42' }`: kept with
 * the seat, in every event and listing about the peer, JSON-serializable, at most 4 KiB of
 * JSON; a resume must be authorized as the same identity); `false` (or a thrown error) refuses
 * it with 403, or with the error's `statusCode` (401, say).
 */
export type AuthorizeHook = (request: HandshakeRequest, roomId: string) =>
  boolean | Record<string, unknown> | Promise<boolean | Record<string, unknown>>

/** The size of a room at its creation: a number, or a function of the handshake that creates it. */
export type RoomSizeOption = number | ((request: HandshakeRequest, roomId: string) => number | Promise<number>)

/** Options of `fastify.register(notify, options)`. Durations are in seconds. */
export interface NotifyOptions {
  /**
   * The `RTCConfiguration.iceServers` handed to peers (`GET /peerconnection`), or a function of
   * the handshake request and room id (sync or async), for per-user or per-region servers.
   * Default `[{ urls: 'stun:stun.l.google.com:19302' }]`.
   */
  iceServers?: IceServersOption
  /** Adds fresh TURN REST API credentials to every ICE answer. Default: none. */
  turn?: TurnOptions
  /** Allowed `Host` header values (`host[:port]`, case-insensitive); others, or none, get 403. Default: any. */
  hosts?: string[]
  /** Allowed `Origin` header values; another Origin gets 403, a client without one passes. Default: any. */
  origins?: string[]
  /** Allowed request paths, exact, with the prefix and without the query; others get 404. Default: any. */
  paths?: string[]
  /** Bytes in one frame the server relays; a larger frame is answered `failed` (too large). Default 65536. */
  maxPayload?: number
  /** Bytes in one frame at which the connection is closed with 1009. Default 1 MiB, and at least `maxPayload`. */
  hardMaxPayload?: number
  /** Messages queued per room for a peer that is not connected. Default 64. */
  queueMaxMessages?: number
  /** Bytes queued per room. Default 262144 (256 KiB). */
  queueMaxBytes?: number
  /** Bytes queued in all rooms of this process together (in-memory store). Default 64 MiB. */
  queueMaxTotalBytes?: number
  /** Seconds a queued message is kept; 0 keeps it as long as its sender stays connected. Default 0. */
  queueMaxAge?: number
  /** Seconds between pings; a peer that did not answer the last one is cut off. 0 turns heartbeats off. Default 30. */
  heartbeatInterval?: number
  /** Frames per second per connection, sustained. Default 50. */
  messageRate?: number
  /** Frames per connection at once (the rate limit's bucket). Default 200. */
  messageBurst?: number
  /**
   * Frames per second from one client address, all its connections together (the address as
   * Fastify's `request.ip` gives it: set `trustProxy` behind a proxy). 0: no limit. Default 1000.
   */
  ipMessageRate?: number
  /** Bytes per second from one client address, all its connections together. 0: no limit. Default 8 MiB. */
  ipByteRate?: number
  /** Bytes waiting to be sent to one connection before it is closed as too slow (4002). Default 1 MiB. */
  maxBufferedBytes?: number
  /** Rooms in this process; beyond it new handshakes get 503. Default 10000. */
  maxRooms?: number
  /** Peers in this process; beyond it new handshakes get 503. Default 10000. */
  maxPeers?: number
  /** Seconds a dropped session peer may come back (resume); 0 turns sessions off. Default 30. */
  resumeGrace?: number
  /** Runs in the handshake, after the allow-lists, before the upgrade and before a seat is taken. Default: none. */
  authorize?: AuthorizeHook
  /**
   * Seats in a room: 2 (the original protocol: a call ends when either peer leaves), or up to
   * 12 for a mesh group call (peers are told of each other, NOTIFY may name its recipient, the
   * room ends with its last peer). A function chooses per room, when the first handshake
   * creates it. Default 2.
   */
  roomSize?: RoomSizeOption
  /** Whether peers are told the identities of the other peers of their room (PRESENCE, ROOM frames). Default `false`. */
  shareIdentity?: boolean
  /** Where rooms live: the in-process `memoryStore()` (default), or `redisStore()` from `fastify-rtc-notify/redis`. */
  store?: RoomStore
  /**
   * `true`: register the notify_* metrics in prom-client's default registry and serve them at
   * `GET {prefix}/metrics`. An object: `registry` to register in another, `route: false` when
   * the app serves its registry itself. Needs the `prom-client` package. Default `false`.
   */
  metrics?: boolean | { registry?: ServableRegistry, route?: boolean }
  /** `true`: serve `GET {prefix}/health` (200 while the server takes joins, else 503). Default `false`. */
  health?: boolean
  /**
   * `true`: serve the browser client's ES modules at `GET {prefix}/client.js` (and the modules it
   * imports beside it), for pages that import it without a bundler. Default `false`.
   */
  serveClient?: boolean
}

// Every option of the interface is checked by the schema, and nothing else is.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : never
const optionsMatchSchema: SameKeys<NotifyOptions, CheckedOptions> = true
void optionsMatchSchema

/** The options with every default filled in. */
export type ResolvedOptions = Required<Omit<NotifyOptions, 'turn' | 'hosts' | 'origins' | 'paths' | 'authorize' | 'store'>> &
  Pick<NotifyOptions, 'turn' | 'hosts' | 'origins' | 'paths' | 'authorize' | 'store'>

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
  health: false,
  serveClient: false,
  roomSize: 2,
  shareIdentity: false
} satisfies Partial<ResolvedOptions>

// The hard frame limit is at least the relay limit, and by default well above it: a frame a
// little too large is answered, not a reason to end the call.
const defaultHardMaxPayload = 1024 * 1024

// Register options Fastify itself reads; they ride along in the same object.
const fastifyRegisterOptions = new Set(['prefix', 'logLevel', 'logSerializers'])

/**
 * Checks the plugin's options and fills in the defaults.
 * @throws InvalidOptionError naming the first wrong option
 */
export function resolveOptions (options: Record<string, unknown>): ResolvedOptions {
  const own: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    if (!fastifyRegisterOptions.has(key) && value !== undefined) own[key] = value
  }
  const problem = optionProblem(own)
  if (problem !== undefined) throw new InvalidOptionError(problem.path, problem.message)
  const resolved = { ...defaults, ...own } as ResolvedOptions
  resolved.hardMaxPayload ??= Math.max(defaultHardMaxPayload, resolved.maxPayload)
  if (resolved.hardMaxPayload < resolved.maxPayload) {
    throw new InvalidOptionError('hardMaxPayload', 'must be at least maxPayload')
  }
  return resolved
}
