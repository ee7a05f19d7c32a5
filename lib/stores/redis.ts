import { Redis } from 'ioredis'
import { randomId } from '../random-id.js'
import { pipelineResults, storeConnectionOptions, whenReady, withTimeout } from './redis-connection.js'
import { parseInstanceMessage, roomScripts, scriptSource } from './redis-scripts.js'
import type {
  ClaimResult, ExpiryResult, Frame, PeerSink, PresenceState, QueueLimits, RelayOutcome,
  ReserveResult, RoomStore, SessionGrant, StoreContext, StoreLog
} from './store.js'

/** How to reach Redis, and the store's own settings. */
export interface RedisStoreOptions {
  /** A Redis URL, e.g. redis://127.0.0.1:6379 (the store makes and closes its connections). */
  url?: string
  /** An ioredis client to use instead of `url`; the store duplicates it for pub/sub and leaves it open at close. */
  client?: Redis
  /** Namespace of every key and channel (default `rtc-notify:`); no braces, they are hash tags. */
  prefix?: string
  /**
   * Milliseconds an instance's liveness key lives without being refreshed (default 6000); it is
   * refreshed five times as often. A crashed instance is noticed, and its seats reclaimed, within
   * about one and a half times this.
   */
  livenessMs?: number
  /** Milliseconds `start` waits for Redis before it fails (default 5000, within Fastify's plugin timeout). */
  connectTimeoutMs?: number
}

type RoomCommand = keyof typeof roomScripts
type Reply = Array<Buffer | string | number | null>

/** A connection of this process, as the store knows it. */
interface LocalConnection {
  roomId: string
  peerId: string
  connectionId: string
  sink: PeerSink
  /** Fetches of queued frames under way; messages wait in `held` until they are done. */
  fetching: number
  held: Buffer[]
}

const outcomes: RelayOutcome[] = ['delivered', 'queued', 'queue_full', 'gone']
const presenceStates = new Set<string>(['joined', 'reconnecting', 'back'])
// A room whose only seat was just reserved expires if its handshake never ends either way.
const reserveLeaseMs = 60_000
// Token index entries only tell "wrong room" from "unknown"; they outlive any sane session.
const tokenIndexMs = 24 * 3600_000
const reaperLockMs = 30_000
const recoverRetryMs = 1000
const closeTimeoutMs = 1000
const noop = (): void => {}
const silentLog: StoreLog = { info: noop, warn: noop, error: noop }

/**
 * A room store on Redis, for several instances (processes or machines) serving one set of rooms.
 * Seats, queues and session tokens live in Redis and change only in Lua scripts; a frame for a
 * peer connected to another instance goes through that instance's pub/sub channel. Each instance
 * keeps a liveness key; the others reclaim the seats of one that stopped refreshing it.
 */
export class RedisStore implements RoomStore {
  private readonly client: Redis
  private readonly subscriber: Redis
  private readonly ownsClient: boolean
  private readonly prefix: string
  private readonly channels: string
  private readonly livenessMs: number
  private readonly connectTimeoutMs: number
  private limits: QueueLimits = { maxMessages: Infinity, maxBytes: Infinity, maxAgeMs: Infinity }
  private graceMs = 0
  private log: StoreLog = silentLog
  private instanceId = ''
  private up = false
  private started = false
  private closed = false
  private recovering: Promise<void> | undefined
  private recoverAgain = false
  private readonly connections = new Map<string, LocalConnection>()
  /** Seats this instance answers for: room id → peer id → connection id ('' while reserved). */
  private readonly answerable = new Map<string, Map<string, string>>()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (options: RedisStoreOptions) {
    if ((options.url === undefined) === (options.client === undefined)) {
      throw new TypeError('redisStore needs exactly one of `url` and `client`')
    }
    this.prefix = options.prefix ?? 'rtc-notify:'
    if (/[{}]/.test(this.prefix)) throw new TypeError('redisStore `prefix` may not contain braces (they make hash tags)')
    this.channels = `${this.prefix}channel:`
    this.livenessMs = options.livenessMs ?? 6000
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000
    this.ownsClient = options.client === undefined
    this.client = options.client ?? new Redis(options.url!, storeConnectionOptions)
    // The channel is subscribed again by `recover`, which also fetches what was missed.
    this.subscriber = this.client.duplicate({ ...storeConnectionOptions, autoResubscribe: false })
    for (const [name, body] of Object.entries(roomScripts)) {
      this.client.defineCommand(name, { numberOfKeys: 2, lua: scriptSource(body) })
    }
  }

  get available (): boolean {
    return this.up
  }

  async start (context: StoreContext): Promise<void> {
    this.limits = context.limits
    this.graceMs = context.graceMs
    this.log = context.log
    const clients = this.ownsClient ? [this.client, this.subscriber] : [this.subscriber]
    for (const client of clients) {
      client.on('error', (err: Error) => { if (this.up) this.log.warn({ err }, 'redis connection error') })
    }
    for (const client of [this.client, this.subscriber]) {
      client.on('close', () => this.lost())
      client.on('ready', () => { if (this.started) void this.recover() })
    }
    this.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message))
    try {
      await Promise.all([this.client, this.subscriber].map(client => whenReady(client, this.connectTimeoutMs)))
      await this.register()
    } catch (err) {
      this.subscriber.disconnect()
      if (this.ownsClient) this.client.disconnect()
      throw new Error(`cannot use Redis: ${(err as Error).message}`, { cause: err })
    }
    this.started = true
    this.up = true
    this.every(this.livenessMs / 5, () => this.refresh())
    this.every(this.livenessMs / 2, () => this.sweep())
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.up = false
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    // Seats still held (sessions in their grace period) are left to the instance that sees this
    // one gone; with none, the instance's records go now.
    const pipeline = this.client.pipeline().del(this.liveKey(this.instanceId))
    if (this.answerable.size === 0) {
      pipeline.del(this.roomsKey(this.instanceId)).srem(this.instancesKey(), this.instanceId)
    }
    await withTimeout(pipeline.exec(), closeTimeoutMs).catch(noop)
    this.subscriber.disconnect()
    if (this.ownsClient) await withTimeout(this.client.quit(), closeTimeoutMs).catch(() => this.client.disconnect())
    this.connections.clear()
    this.answerable.clear()
  }

  async reserve (roomId: string, peerId: string): Promise<ReserveResult> {
    this.answer(roomId, peerId, '')
    let result: ReserveResult
    try {
      result = await this.run('rtcNotifyReserve', roomId, peerId, this.instanceId, reserveLeaseMs) as ReserveResult
    } catch (err) {
      this.unanswer(roomId, peerId, '')
      throw err
    }
    if (result === 'full') this.unanswer(roomId, peerId, '')
    return result
  }

  async release (roomId: string, peerId: string): Promise<boolean> {
    const deleted = await this.run('rtcNotifyRelease', roomId, peerId)
    this.unanswer(roomId, peerId, '')
    return deleted === 1
  }

  async attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void> {
    const connection: LocalConnection = { roomId, peerId, connectionId, sink, fetching: 0, held: [] }
    this.connections.set(connectionId, connection)
    this.answer(roomId, peerId, connectionId)
    let reply
    try {
      reply = await this.fetch(connection, 'rtcNotifyAttach', this.instanceId, connectionId)
    } catch (err) {
      this.forget(connection)
      throw err
    }
    if (reply[0] === 0) {
      // The call ended between the handshake and now (the partner left): end this one too.
      this.forget(connection)
      sink.end()
    }
  }

  relay (roomId: string, fromPeerId: string, frame: Frame): Promise<RelayOutcome> {
    const { maxMessages, maxBytes } = this.limits
    return this.run('rtcNotifyRelay', roomId, fromPeerId, frame, Date.now(), finite(maxMessages), finite(maxBytes))
      .then(code => outcomes[code as number])
  }

  async expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult> {
    const [dropped, next] = await this.run('rtcNotifyExpire', roomId, fromPeerId, now, finite(this.limits.maxAgeMs)) as number[]
    return { dropped, nextExpiryAt: next < 0 ? null : next }
  }

  async leave (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    return await this.end(roomId, peerId, connectionId, false)
  }

  async openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant> {
    const [granted, partner, fresh] = await this.run('rtcNotifyOpenSession', roomId, peerId, token) as [string, SessionGrant['partner'], number]
    // Best effort: without it, a token tried in another room is called unknown rather than wrong.
    if (fresh === 1) this.client.set(this.tokenKey(granted), roomId, 'PX', tokenIndexMs).catch(noop)
    return { token: granted, partner }
  }

  async suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    this.connections.delete(connectionId)
    const kept = await this.run('rtcNotifySuspend', roomId, peerId, connectionId, Date.now() + this.graceMs, this.graceMs + 2 * this.livenessMs)
    if (kept !== 1) this.unanswer(roomId, peerId, connectionId)
    return kept === 1
  }

  async claim (roomId: string, token: string): Promise<ClaimResult> {
    const peerId = await this.run('rtcNotifyClaim', roomId, token) as string | null
    if (peerId !== null) return { ok: true, peerId }
    const indexed = await this.client.get(this.tokenKey(token))
    if (indexed === null || indexed === roomId) return { ok: false, reason: 'unknown_token' }
    // The index may outlive the session; the token's own room has the last word.
    const owner = await this.run('rtcNotifyClaim', indexed, token)
    return { ok: false, reason: owner === null ? 'unknown_token' : 'wrong_room' }
  }

  // Runs a room script; the room's keys go first.
  private run (command: RoomCommand, roomId: string, ...args: Array<string | number | Buffer>): Promise<unknown> {
    const run = (this.client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[command]
    return run.call(this.client, this.roomKey(roomId), this.queueKey(roomId), this.channels, ...args)
  }

  // Runs a script that hands a local connection its queued frames. Messages for the connection
  // that arrive meanwhile were published after the script ran: they wait, then follow the frames.
  private async fetch (connection: LocalConnection, command: 'rtcNotifyAttach' | 'rtcNotifyResync', ...args: string[]): Promise<Reply> {
    connection.fetching++
    try {
      const run = (this.client as unknown as Record<string, (...a: unknown[]) => Promise<Reply>>)[`${command}Buffer`]
      const reply = await run.call(this.client, this.roomKey(connection.roomId), this.queueKey(connection.roomId),
        this.channels, connection.peerId, ...args)
      for (let i = 1; i < reply.length; i++) connection.sink.deliver(reply[i] as Buffer)
      return reply
    } finally {
      if (--connection.fetching === 0 && connection.held.length > 0) {
        const held = connection.held
        connection.held = []
        for (const message of held) this.dispatch(connection, message)
      }
    }
  }

  private async end (roomId: string, peerId: string, connectionId: string, onlyIfSuspended: boolean): Promise<boolean> {
    this.connections.delete(connectionId)
    let reply: Array<string | number>
    try {
      reply = await this.run('rtcNotifyLeave', roomId, peerId, connectionId, onlyIfSuspended ? '1' : '0') as Array<string | number>
    } finally {
      this.unanswer(roomId, peerId, connectionId)
    }
    this.dropTokens(reply)
    return reply[0] === 1
  }

  // A message from another instance (or this one) for a local connection.
  private receive (message: Buffer): void {
    const { id, payload } = parseInstanceMessage(message)
    const connection = this.connections.get(id)
    if (connection === undefined) return
    if (connection.fetching > 0) connection.held.push(message)
    else this.dispatch(connection, message, payload)
  }

  private dispatch (connection: LocalConnection, message: Buffer, payload = parseInstanceMessage(message).payload): void {
    switch (message[0]) {
      case 0x64: // d
        connection.sink.deliver(message.subarray(payload))
        break
      case 0x65: // e
        this.forget(connection)
        connection.sink.end()
        break
      case 0x70: { // p
        const state = message.toString('utf8', payload)
        if (presenceStates.has(state)) connection.sink.presence(state as PresenceState)
        break
      }
      case 0x72: // r
        this.forget(connection)
        connection.sink.replace()
        break
    }
  }

  private forget (connection: LocalConnection): void {
    if (this.connections.get(connection.connectionId) === connection) this.connections.delete(connection.connectionId)
    this.unanswer(connection.roomId, connection.peerId, connection.connectionId)
  }

  // Records that this instance answers for a seat; a room's first seat adds it to the instance's
  // room set (before the script that takes the seat, on the same connection, so never after it).
  private answer (roomId: string, peerId: string, connectionId: string): void {
    let seats = this.answerable.get(roomId)
    if (seats === undefined) {
      seats = new Map()
      this.answerable.set(roomId, seats)
      this.client.sadd(this.roomsKey(this.instanceId), roomId).catch(noop)
    }
    seats.set(peerId, connectionId)
  }

  private unanswer (roomId: string, peerId: string, connectionId: string): void {
    const seats = this.answerable.get(roomId)
    if (seats === undefined || seats.get(peerId) !== connectionId) return
    seats.delete(peerId)
    if (seats.size > 0) return
    this.answerable.delete(roomId)
    this.client.srem(this.roomsKey(this.instanceId), roomId).catch(noop)
  }

  private dropTokens (reply: Array<string | number | Buffer | null>): void {
    if (reply[0] !== 1 || reply.length < 2) return
    this.client.del(...reply.slice(1).map(token => this.tokenKey(String(token)))).catch(noop)
  }

  // --- Liveness, recovery and reclaiming the seats of dead instances ---

  /**
   * Takes a fresh instance id: its channel, liveness key and room set. After Redis was lost (or
   * this instance was presumed dead), the local connections' seats are moved to the new id and
   * given what was queued meanwhile, and the seats left under the old id are reaped like those
   * of any dead instance.
   */
  private async register (): Promise<void> {
    const previous = this.instanceId
    const id = randomId(9)
    await this.subscriber.subscribe(this.channels + id)
    this.instanceId = id
    const pipeline = this.client.pipeline()
      .set(this.liveKey(id), '1', 'PX', this.livenessMs)
      .sadd(this.instancesKey(), id)
    if (this.answerable.size > 0) pipeline.sadd(this.roomsKey(id), ...this.answerable.keys())
    pipelineResults(await pipeline.exec())
    if (previous === '') return
    const connections = [...this.connections.values()]
    await Promise.all(connections.map(connection => this.resync(connection)))
    await this.reapInstance(previous)
    await this.subscriber.unsubscribe(this.channels + previous)
  }

  private async resync (connection: LocalConnection): Promise<void> {
    const reply = await this.fetch(connection, 'rtcNotifyResync', connection.connectionId, this.instanceId)
    if (reply[0] === 0) {
      this.forget(connection)
      connection.sink.end()
    } else if (reply[0] === 1) {
      this.forget(connection)
      connection.sink.replace()
    }
  }

  private lost (): void {
    if (!this.started || this.closed) return
    if (this.up) this.log.warn({}, 'lost Redis: refusing joins until it is back')
    this.up = false
  }

  // Serialized: a second call while one runs makes it run once more.
  private async recover (): Promise<void> {
    if (this.closed || this.client.status !== 'ready' || this.subscriber.status !== 'ready') return
    if (this.recovering !== undefined) {
      this.recoverAgain = true
      return
    }
    this.recovering = (async () => {
      try {
        do {
          this.recoverAgain = false
          this.up = false
          await this.register()
        } while (this.recoverAgain)
        this.up = true
        this.log.info({ instance: this.instanceId }, 'Redis is back: serving again')
      } catch (err) {
        this.log.warn({ err }, 'could not resume with Redis; retrying')
        this.after(recoverRetryMs, () => this.recover())
      } finally {
        this.recovering = undefined
      }
    })()
    await this.recovering
  }

  // SET XX answers null when the key had gone: this instance was presumed dead (a stall longer
  // than livenessMs), so its seats may have been reaped; it starts over under a new id.
  private async refresh (): Promise<void> {
    if (!this.up) return
    const kept = await this.client.set(this.liveKey(this.instanceId), '1', 'PX', this.livenessMs, 'XX')
    if (kept === null && !this.closed) {
      this.log.warn({ instance: this.instanceId }, 'liveness key lapsed; registering again')
      await this.recover()
    }
  }

  private async sweep (): Promise<void> {
    if (!this.up) return
    const ids = (await this.client.smembers(this.instancesKey())).filter(id => id !== this.instanceId)
    if (ids.length === 0) return
    const pipeline = this.client.pipeline()
    for (const id of ids) pipeline.exists(this.liveKey(id))
    const alive = pipelineResults(await pipeline.exec())
    for (let i = 0; i < ids.length; i++) {
      if (alive[i] === 0) await this.reapInstance(ids[i])
    }
  }

  /** Reclaims every seat a dead instance answered for; one instance at a time does it. */
  private async reapInstance (dead: string): Promise<void> {
    const lock = `${this.liveKey(dead)}:reaper`
    if (await this.client.set(lock, this.instanceId, 'PX', reaperLockMs, 'NX') === null) return
    const rooms = await this.client.smembers(this.roomsKey(dead))
    if (rooms.length > 0) this.log.info({ instance: dead, rooms: rooms.length }, 'reclaiming the seats of a dead instance')
    await Promise.all(rooms.map(roomId => this.reapRoom(roomId, dead)))
    pipelineResults(await this.client.pipeline().del(this.roomsKey(dead)).srem(this.instancesKey(), dead).del(lock).exec())
  }

  private async reapRoom (roomId: string, dead: string): Promise<void> {
    // Listed as this instance's before the script, which may make it answerable for seats.
    await this.client.sadd(this.roomsKey(this.instanceId), roomId)
    const reply = await this.run('rtcNotifyReap', roomId, dead, this.instanceId, Date.now(), this.graceMs,
      this.graceMs + 2 * this.livenessMs) as Array<string | number>
    if (reply[0] === 1) {
      this.log.info({ room: roomId }, 'room deleted: a peer\'s instance died')
      this.dropTokens(reply)
    }
    for (let i = 1; reply[0] === 2 && i < reply.length; i += 3) {
      const peerId = String(reply[i])
      const connectionId = String(reply[i + 1])
      this.answer(roomId, peerId, connectionId)
      // The dead instance's grace timer: a leave, unless the peer came back meanwhile.
      this.after(Number(reply[i + 2]) - Date.now(), () => this.end(roomId, peerId, connectionId, true))
    }
    if (!this.answerable.has(roomId)) await this.client.srem(this.roomsKey(this.instanceId), roomId)
  }

  private every (ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => {
      task().catch(err => { if (this.up) this.log.warn({ err }, 'redis store housekeeping failed') })
    }, ms).unref()
    this.timers.add(timer)
  }

  private after (ms: number, task: () => Promise<unknown>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      task().catch(err => this.log.warn({ err }, 'redis store housekeeping failed'))
    }, Math.max(0, ms)).unref()
    this.timers.add(timer)
  }

  private roomKey (roomId: string): string { return `${this.prefix}{${roomId}}:room` }
  private queueKey (roomId: string): string { return `${this.prefix}{${roomId}}:queue` }
  private liveKey (id: string): string { return `${this.prefix}instance:${id}` }
  private roomsKey (id: string): string { return `${this.prefix}instance:${id}:rooms` }
  private instancesKey (): string { return `${this.prefix}instances` }
  private tokenKey (token: string): string { return `${this.prefix}token:${token}` }
}

/** Creates a Redis room store: `redisStore({ url: 'redis://127.0.0.1:6379' })` or `redisStore({ client })`. */
export function redisStore (options: RedisStoreOptions): RedisStore {
  return new RedisStore(options)
}

// Lua reads numbers from strings; "Infinity" is not one.
function finite (n: number): number {
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER
}
