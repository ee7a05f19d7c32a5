import { performance } from 'node:perf_hooks'
import type { Cluster, Redis } from 'ioredis'
import { InvalidOptionError } from '../errors.js'
import { randomId } from '../random-id.js'
import { isCluster, isCommandTimeout, storeClient, storeConnectionOptions, whenReady, type RedisLocation } from './redis-connection.js'
import { RedisUnavailableError, RedisUnreachableError } from './redis-errors.js'
import { RedisHealth } from './redis-health.js'
import { RedisInbox } from './redis-inbox.js'
import { goneMarker, LivenessJudge } from './redis-liveness.js'
import { LocalRooms, type LocalConnection } from './redis-local-rooms.js'
import { MessageKind, parseInstanceMessage, type BufferReply, type Reply, type RoomMeta, type StoredSeat } from './redis-scripts.js'
import type {
  ClaimResult, Dismissal, ExpiryResult, Frame, KickResult, PeerSink, PresenceState, QueueLimits, RelayOutcome,
  LeaveResult, ReserveResult, RoomEnd, RoomListing, RoomStore, SeatInfo, SessionGrant, StoreContext, StoreLog
} from './store.js'

/** How to reach Redis (exactly one of `url`, `cluster` and `client`), and the store's own settings. */
export interface RedisStoreOptions extends RedisLocation {
  /** Namespace of every key and channel (default `rtc-notify:`); no braces, they are hash tags. */
  prefix?: string
  /**
   * Milliseconds an instance may go without refreshing its marker before the others judge it
   * dead and reclaim its seats (default 6000); it refreshes it five times as often (at most every
   * second). A crashed instance is noticed within about one and a half times this. Redis itself
   * stalling never gets an instance judged dead.
   */
  livenessMs?: number
  /** Milliseconds `start` waits for Redis before it fails (default 5000, within Fastify's plugin timeout). */
  connectTimeoutMs?: number
  /**
   * Milliseconds a Redis command may take (default 2000). A command that takes longer fails, and
   * the store counts Redis as not answering (joins 503, frames `failed`) until it answers again.
   */
  commandTimeoutMs?: number
  /**
   * Bytes of frames sent to Redis and not yet answered beyond which frames are refused at once
   * (default 16 MiB): what a slow or hung Redis can make this process hold.
   */
  maxInFlightBytes?: number
}

type RoomKeys = [room: string, queue: string, channels: string]

const presenceStates = new Set<string>(['joined', 'reconnecting', 'back', 'left'])
const dismissals = new Set<string>(['kicked', 'room-closed'])
// Rooms a listing fetches at a time.
const listingBatch = 100
// A room whose only seat was just reserved expires if its handshake never ends either way.
const reserveLeaseMs = 60_000
// Token index entries only tell "wrong room" from "unknown"; they outlive any sane session.
const tokenIndexMs = 24 * 3600_000
const reaperLockMs = 30_000
const recoverRetryMs = 1000
const noop = (): void => {}
const silentLog: StoreLog = { info: noop, warn: noop, error: noop }

/**
 * A room store on Redis (one server or a Redis Cluster), for several instances (processes or
 * machines) serving one set of rooms.
 * Seats, queues and session tokens live in Redis and change only in Lua scripts; a frame for a
 * peer connected to another instance goes through that instance's pub/sub channel. Each instance
 * bumps a marker; the others reclaim the seats of one whose marker stood still
 * (see redis-liveness.ts).
 *
 * Should Redis lose its data (a restart without persistence, a flush), each instance writes back
 * the calls whose every seat is one of its own connections, and they go on (their frames never
 * needed Redis). Calls split across instances end, as do a few others (see `restore`).
 */
export class RedisStore implements RoomStore {
  private readonly client: Redis | Cluster
  /** The client, when it is a cluster's. */
  private readonly cluster: Cluster | undefined
  private readonly inbox: RedisInbox
  private readonly prefix: string
  private readonly channels: string
  private readonly livenessMs: number
  private readonly connectTimeoutMs: number
  private readonly commandTimeoutMs: number
  private readonly health: RedisHealth
  private readonly judge: LivenessJudge
  private limits: QueueLimits = { maxMessages: Infinity, maxBytes: Infinity, maxAgeMs: Infinity }
  private graceMs = 0
  private log: StoreLog = silentLog
  private roomEnded: StoreContext['roomEnded']
  private instanceId = ''
  /** The Redis data set's epoch as last seen: another one means Redis lost its data. */
  private epoch = ''
  private beats = 0
  /** Registered under `instanceId` on the current connections. */
  private registered = false
  private started = false
  private closed = false
  private recovering: Promise<void> | undefined
  private recoverAgain = false
  private readonly connections = new Map<string, LocalConnection>()
  private readonly local = new LocalRooms()
  /** Rooms where a seat's leave may not have reached Redis: not written back should it lose them. */
  private readonly unrecorded = new Set<string>()
  private readonly relayCounts = { throughRedis: 0, direct: 0 }
  /** Seats this instance answers for: room id → peer id → connection id ('' while reserved). */
  private readonly answerable = new Map<string, Map<string, string>>()
  /** On a cluster: rooms being added to this instance's room set (see `answer`). */
  private readonly listing = new Map<string, Promise<unknown>>()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (options: RedisStoreOptions) {
    if ([options.url, options.cluster, options.client].filter(given => given !== undefined).length !== 1) {
      throw new InvalidOptionError('redisStore', 'needs exactly one of `url`, `cluster` and `client`')
    }
    this.prefix = options.prefix ?? 'rtc-notify:'
    if (/[{}]/.test(this.prefix)) throw new InvalidOptionError('prefix', 'may not contain braces (they make hash tags)')
    this.channels = `${this.prefix}channel:`
    this.livenessMs = positive('livenessMs', options.livenessMs, 6000)
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 5000)
    this.commandTimeoutMs = positive('commandTimeoutMs', options.commandTimeoutMs, 2000)
    const maxInFlightBytes = positive('maxInFlightBytes', options.maxInFlightBytes, 16 * 1024 * 1024)
    const connection = storeConnectionOptions(this.commandTimeoutMs)
    this.client = storeClient(options, this.commandTimeoutMs)
    this.cluster = isCluster(this.client) ? this.client : undefined
    const cluster = this.cluster
    this.inbox = new RedisInbox(this.channels, cluster !== undefined,
      cluster === undefined ? () => [this.client as Redis] : () => cluster.nodes('master'), connection)
    this.health = new RedisHealth(maxInFlightBytes, answering => this.answeringChanged(answering))
    this.judge = new LivenessJudge(this.livenessMs, performance.now())
  }

  get available (): boolean {
    return this.registered && this.health.answering && !this.closed
  }

  async start (context: StoreContext): Promise<void> {
    this.limits = context.limits
    this.graceMs = context.graceMs
    this.log = context.log
    this.roomEnded = context.roomEnded
    for (const client of [this.client, this.inbox]) {
      client.on('error', (err: Error) => { if (this.available) this.log.warn({ err }, 'redis connection error') })
      client.on('close', () => this.lost())
      client.on('ready', () => { if (this.started) void this.recover() })
    }
    this.inbox.on('message', (message: Buffer) => this.receive(message))
    // A cluster's masters may change (a failover, a node added): the inbox listens on the new ones.
    this.cluster?.on('refresh', () => this.inbox.follow())
    // ioredis connects to a node at its first command, and refuses the commands sent to it
    // meanwhile (there is no offline queue): once the cluster is ready, the store connects at once.
    // (Before, ioredis's own ready check must find the nodes it picks not connecting.)
    this.cluster?.on('+node', (node: Redis) => { if (this.cluster?.status === 'ready') node.connect().catch(noop) })
    try {
      const deadline = performance.now() + this.connectTimeoutMs
      await whenReady(this.client, this.connectTimeoutMs)
      await this.register(deadline)
    } catch (err) {
      this.inbox.disconnect()
      this.client.disconnect()
      if (err instanceof RedisUnreachableError) throw err
      throw new RedisUnreachableError((err as Error).message, { cause: err })
    }
    this.started = true
    this.registered = true
    this.judge.distrust(performance.now())
    this.every(Math.min(this.livenessMs / 5, 1000), () => this.heartbeat())
    this.every(this.livenessMs / 4, () => this.sweep())
  }

  /**
   * Says goodbye to Redis if it answers (within `commandTimeoutMs`), then disconnects: it never
   * waits longer, whatever Redis does.
   */
  async close (): Promise<void> {
    if (this.closed) return
    const available = this.available
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    if (available) {
      // Seats still held (sessions in their grace period) are left to the instance that sees this
      // one gone, at once; with none, the instance's records go now.
      const id = this.instanceId
      const goodbye = this.answerable.size === 0
        ? [this.client.del(this.liveKey(id)), this.client.del(this.roomsKey(id)), this.unregister(id)]
        : [this.client.set(this.liveKey(id), goneMarker)]
      const said = await Promise.allSettled(goodbye)
      // A Redis that did not answer is not waited for twice.
      if (said.every(({ status }) => status === 'fulfilled')) await this.client.quit().catch(noop)
    }
    this.inbox.disconnect()
    this.client.disconnect()
    this.connections.clear()
    this.answerable.clear()
  }

  // Leaves the instances' set; the last instance to leave takes the epoch with it, and nothing of
  // the store is left in Redis. (An instance starting meanwhile may lose the epoch it just read:
  // at its next recovery it takes Redis for having lost its data, and writes back only rooms
  // that do not exist.)
  private async unregister (id: string): Promise<void> {
    const [, left] = await Promise.all([this.client.srem(this.instancesKey(), id), this.client.scard(this.instancesKey())])
    if (left === 0) await this.client.del(this.epochKey())
  }

  reserve (roomId: string, seat: SeatInfo, size: number, at = Date.now()): Promise<ReserveResult> {
    const peerId = seat.peerId
    let sent = false
    return this.admit(0, () => {
      sent = true
      return this.answered(this.answer(roomId, peerId, ''), () =>
        this.client.rtcNotifyReserve(...this.keys(roomId), peerId, this.instanceId, reserveLeaseMs, seat.identity ?? '', size, at))
    }).then(result => {
      if (result === 'full') this.unanswer(roomId, peerId, '')
      return result
    }, (err: unknown) => {
      // A seat Redis may still take once it answers (the handshake was refused): given back
      // right after, on the same connection.
      if (isCommandTimeout(err)) this.release(roomId, peerId).catch(noop)
      else if (sent) this.unanswer(roomId, peerId, '')
      throw err
    })
  }

  async release (roomId: string, peerId: string): Promise<RoomEnd | undefined> {
    let reply
    try {
      reply = await this.health.watch(this.client.rtcNotifyRelease(...this.keys(roomId), peerId))
    } finally {
      // Sent after the script, on the same connection: Redis runs it after, answered or not.
      this.unanswer(roomId, peerId, '')
    }
    return this.roomEndOf(reply, 0)
  }

  async attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void> {
    // Nothing of a new connection's is on its way through Redis: it may relay directly at once.
    const connection: LocalConnection = { roomId, peerId, connectionId, sink, fetching: 0, held: [], mode: 'direct', barriers: 0, waiting: [] }
    this.connections.set(connectionId, connection)
    const listed = this.answer(roomId, peerId, connectionId)
    let reply
    try {
      reply = await this.fetch(connection, () => this.answered(listed, () =>
        this.client.rtcNotifyAttachBuffer(...this.keys(roomId), peerId, this.instanceId, connectionId, Date.now())))
    } catch (err) {
      this.forget(connection)
      throw err
    }
    if (String(reply[0]) === 'gone') {
      // The call ended between the handshake and now (the partner left): end this one too.
      this.forget(connection)
      sink.end()
    }
  }

  relay (roomId: string, fromPeerId: string, frame: Frame, to?: string): RelayOutcome | Promise<RelayOutcome> {
    const sender = this.localConnection(roomId, fromPeerId)
    if (sender !== undefined) {
      // Every recipient is connected to this process: the frame goes straight to them, once no
      // frame of this sender that went through Redis can still be on its way (the barrier).
      const recipients = this.local.recipients(roomId, fromPeerId, to)
      if (recipients !== undefined && sender.mode === 'direct') {
        for (const recipient of recipients) recipient.sink.deliver(frame)
        this.relayCounts.direct++
        return 'delivered'
      }
      if (recipients !== undefined && sender.mode === 'redis') this.sendBarrier(sender)
      // Relayed again once the barrier is back, in order; through Redis if it is not coming.
      if (sender.mode === 'switching') {
        return new Promise(resolve => sender.waiting.push(() => resolve(sender.mode === 'direct'
          ? this.relay(roomId, fromPeerId, frame, to)
          : this.throughRedis(roomId, fromPeerId, frame, to))))
      }
      // Through Redis from here: going direct again takes another barrier.
      sender.mode = 'redis'
    }
    return this.throughRedis(roomId, fromPeerId, frame, to)
  }

  private throughRedis (roomId: string, fromPeerId: string, frame: Frame, to: string | undefined): Promise<RelayOutcome> {
    const { maxMessages, maxBytes } = this.limits
    this.relayCounts.throughRedis++
    return this.admit(frame.length, () => this.client.rtcNotifyRelay(...this.keys(roomId), fromPeerId, frame, Date.now(),
      finite(maxMessages), finite(maxBytes), to ?? ''))
  }

  /** Frames relayed by this store: through Redis, or directly between connections of this process. */
  relays (): { throughRedis: number, direct: number } {
    return { ...this.relayCounts }
  }

  async expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult> {
    const [dropped, next] = await this.admit(0, () =>
      this.client.rtcNotifyExpire(...this.keys(roomId), fromPeerId, now, finite(this.limits.maxAgeMs)))
    return { dropped, nextExpiryAt: next < 0 ? null : next }
  }

  async leave (roomId: string, peerId: string, connectionId: string): Promise<LeaveResult> {
    return await this.end(roomId, peerId, connectionId, false)
  }

  async openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant> {
    const [granted, others, fresh] = await this.admit(0, () => this.client.rtcNotifyOpenSession(...this.keys(roomId), peerId, token))
    // Best effort: without it, a token tried in another room is called unknown rather than wrong.
    if (fresh === 1) this.indexToken(granted, roomId)
    const own = this.localConnection(roomId, peerId)
    if (own?.seat !== undefined) own.seat.token = granted
    return { token: granted, others: parseOthers(others).map(({ instance: _, ...other }) => other) }
  }

  async suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    this.letGo(connectionId, 'away')
    let kept
    try {
      kept = await this.health.watch(this.client.rtcNotifySuspend(...this.keys(roomId), peerId, connectionId,
        Date.now() + this.graceMs, this.graceMs + 2 * this.livenessMs, Date.now()))
    } catch (err) {
      // Redis may still suspend the seat once it answers, and the caller runs no grace timer for
      // a suspension that failed: this store ends the grace period itself.
      if (isCommandTimeout(err)) this.after(this.graceMs, () => this.expireGrace(roomId, peerId, connectionId))
      throw err
    }
    if (kept !== 1) this.unanswer(roomId, peerId, connectionId)
    return kept === 1
  }

  async claim (roomId: string, token: string, nextToken: string, identity: string | undefined): Promise<ClaimResult> {
    const [status, peerId, seatIdentity] = await this.admit(0, () => this.client.rtcNotifyClaim(...this.keys(roomId), token, nextToken, identity ?? ''))
    if (status === 'ok') {
      this.quietly(this.client.del(this.tokenKey(token)))
      this.indexToken(nextToken, roomId)
      // 'ok' comes with the seat's peer id.
      return { ok: true, seat: seatInfo(peerId!, seatIdentity) }
    }
    if (status === 'wrong_identity') return { ok: false, reason: 'wrong_identity' }
    const indexed = await this.health.watch(this.client.get(this.tokenKey(token)))
    if (indexed === null || indexed === roomId) return { ok: false, reason: 'unknown_token' }
    // The index may outlive the session; the token's own room has the last word.
    const [owner] = await this.health.watch(this.client.rtcNotifyClaim(...this.keys(indexed), token, '', ''))
    return { ok: false, reason: owner === 'ok' ? 'wrong_room' : 'unknown_token' }
  }

  async kick (roomId: string, peerId: string, reason: string): Promise<KickResult> {
    const reply = await this.admit(0, () => this.client.rtcNotifyKick(...this.keys(roomId), peerId, reason))
    if (reply[0] === 'none') return { found: false }
    if (reply[1] !== '') this.quietly(this.client.del(this.tokenKey(String(reply[1]))))
    if (reply[0] === 'dismissed') return { found: true, connected: true }
    const seat = JSON.parse(String(reply[2])) as SeatInfo
    const ended = this.roomEndOf(reply.slice(3), 0)
    this.unanswer(roomId, peerId, this.answerable.get(roomId)?.get(peerId) ?? '')
    return { found: true, connected: false, seat, ended }
  }

  async closeRoom (roomId: string, reason: string): Promise<RoomEnd | undefined> {
    const reply = await this.admit(0, () => this.client.rtcNotifyCloseRoom(...this.keys(roomId), reason))
    return reply === null ? undefined : this.roomEndOf(reply, 0)
  }

  async send (roomId: string, frame: Frame, to?: string): Promise<boolean> {
    return await this.admit(frame.length, () => this.client.rtcNotifySend(...this.keys(roomId), frame.toString(), to ?? '')) === 1
  }

  async room (roomId: string): Promise<RoomListing | undefined> {
    const fields = await this.health.watch(this.client.hgetall(this.roomKey(roomId)))
    return roomListing(roomId, fields)
  }

  async * rooms (): AsyncIterable<RoomListing> {
    const pattern = `${this.prefix}{*}:room`
    // On a cluster, every master holds some of the rooms.
    for (const node of this.cluster?.nodes('master') ?? [this.client]) {
      let cursor = '0'
      do {
        const [next, keys] = await this.health.watch(node.scan(cursor, 'MATCH', pattern, 'COUNT', listingBatch))
        cursor = next
        const all = await Promise.all(keys.map(async key => await this.health.watch(this.client.hgetall(key))))
        for (const [i, key] of keys.entries()) {
          const listing = roomListing(this.roomIdOf(key), all[i] ?? {})
          if (listing !== undefined) yield listing
        }
      } while (cursor !== '0')
    }
  }

  // A command made on behalf of a frame or a join: refused at once, without sending anything,
  // while Redis does not answer or when `bytes` more would be too many in flight. (Commands that
  // end or move a seat are sent whatever the state: dropping them would leave seats behind.
  // While only the subscriber reconnects, frames are still taken: they wait in the queue.)
  private admit<T> (bytes: number, command: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new RedisUnavailableError())
    return this.health.carry(bytes, command)
  }

  // A command whose failure matters to nobody, except that a timeout says Redis is not answering.
  private quietly (answer: Promise<unknown>): void {
    answer.catch((err: unknown) => this.health.failed(err))
  }

  private keys (roomId: string): RoomKeys {
    return [this.roomKey(roomId), this.queueKey(roomId), this.channels]
  }

  // Runs a script that hands a local connection its queued frames. Messages for the connection
  // that arrive meanwhile were published after the script ran: they wait, then follow the frames.
  private async fetch (connection: LocalConnection, script: () => Promise<BufferReply>): Promise<BufferReply> {
    connection.fetching++
    try {
      const reply = await this.health.watch(script())
      const status = String(reply[0])
      if (status === 'attached' || status === 'resynced') {
        connection.room = JSON.parse(String(reply[1])) as RoomMeta
        connection.seat = JSON.parse(String(reply[2])) as StoredSeat
        const others = parseOthers(String(reply[3]))
        // Frames of this process's other connections in the room may go straight to this one
        // from now on, and its own to them.
        this.local.bound(connection, others, peerId => this.localConnection(connection.roomId, peerId))
        if (status === 'attached') connection.sink.welcome(connection.room.size, others.map(({ peerId, identity }) => seatInfo(peerId, identity)))
        for (let i = 4; i < reply.length; i++) connection.sink.deliver(reply[i] as Buffer)
      }
      return reply
    } finally {
      if (--connection.fetching === 0 && connection.held.length > 0) {
        const held = connection.held
        connection.held = []
        for (const message of held) this.dispatch(connection, message)
      }
    }
  }

  private async end (roomId: string, peerId: string, connectionId: string, onlyIfSuspended: boolean): Promise<LeaveResult> {
    this.letGo(connectionId, 'gone')
    let reply: Reply
    try {
      reply = await this.health.watch(this.client.rtcNotifyLeave(...this.keys(roomId), peerId, connectionId, onlyIfSuspended ? '1' : '0'))
    } catch (err) {
      this.unrecorded.add(roomId)
      throw err
    } finally {
      this.unanswer(roomId, peerId, connectionId)
    }
    if (reply[0] === 'not_mine') return { left: false }
    if (reply[0] === 'left' && reply[1] !== undefined) this.quietly(this.client.del(this.tokenKey(String(reply[1]))))
    return { left: true, ended: this.roomEndOf(reply, 0) }
  }

  // A grace period this store keeps (a dead instance's, or one whose suspension timed out) ran out.
  private async expireGrace (roomId: string, peerId: string, connectionId: string): Promise<void> {
    const result = await this.end(roomId, peerId, connectionId, true)
    if (result.left && result.ended !== undefined) this.roomEnded?.(roomId, result.ended, 'grace-expired')
  }

  // The room's end, when reply[at] says it ended; its tokens' index entries are dropped.
  private roomEndOf (reply: Reply, at: number): RoomEnd | undefined {
    if (reply[at] !== 'ended') return undefined
    // One DEL each: on a cluster, the tokens' keys are in different slots.
    for (const token of reply.slice(at + 3)) this.quietly(this.client.del(this.tokenKey(String(token))))
    return { createdAt: Number(reply[at + 1]), unbound: JSON.parse(String(reply[at + 2])) as SeatInfo[] }
  }

  // A message to this instance's own channel behind the sender's frames: Redis runs a
  // connection's commands in order and a channel keeps its messages' order, so when it comes
  // back every frame the sender relayed through Redis has reached this process. (Published by a
  // script on the room's node: on a cluster, where the room's frames are published.)
  private sendBarrier (sender: LocalConnection): void {
    sender.mode = 'switching'
    const barrier = ++sender.barriers
    this.health.watch(this.client.rtcNotifyBarrier(...this.keys(sender.roomId), this.instanceId, sender.connectionId, barrier))
      .then(heard => {
        // Nobody listened on this instance's channel (its subscriber is reconnecting): it is not coming.
        if (heard === 0 && sender.barriers === barrier) this.switched(sender, 'redis')
      }, (err: unknown) => {
        if (this.available) this.log.warn({ err }, 'redis store: could not switch a co-located room to direct relay')
        if (sender.barriers === barrier) this.switched(sender, 'redis')
      })
  }

  private switched (sender: LocalConnection, mode: 'redis' | 'direct'): void {
    if (sender.mode !== 'switching') return
    sender.mode = mode
    const waiting = sender.waiting
    sender.waiting = []
    for (const relay of waiting) relay()
  }

  // A local connection closed: its seat is away or gone, and no frame goes to it directly.
  private letGo (connectionId: string, now: 'away' | 'gone'): void {
    const connection = this.connections.get(connectionId)
    if (connection === undefined) return
    this.local.unbound(connection, now)
    this.switched(connection, 'redis')
    this.connections.delete(connectionId)
  }

  private localConnection (roomId: string, peerId: string): LocalConnection | undefined {
    const connectionId = this.answerable.get(roomId)?.get(peerId)
    return connectionId === undefined ? undefined : this.connections.get(connectionId)
  }

  private indexToken (token: string, roomId: string): void {
    const key = this.tokenKey(token)
    // The room may drop the token meanwhile (its call ending at another instance, which then
    // deletes the index before this write lands): an index whose token the room no longer
    // holds is taken back, so that nothing outlives the room.
    this.quietly(this.client.set(key, roomId, 'PX', tokenIndexMs).then(async () => {
      if (await this.client.hexists(this.roomKey(roomId), `token:${token}`) === 0) await this.client.del(key)
    }))
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
    switch (String.fromCharCode(message[0] ?? 0)) {
      case MessageKind.Deliver:
        connection.sink.deliver(message.subarray(payload))
        break
      case MessageKind.End:
        this.local.ended(connection.roomId)
        this.forget(connection)
        connection.sink.end()
        break
      case MessageKind.Presence: {
        const [state = '', peerId = '', identity] = message.toString('utf8', payload).split('|', 3)
        if (!presenceStates.has(state)) break
        this.local.presence(connection.roomId, peerId, state as PresenceState, this.localConnection(connection.roomId, peerId))
        connection.sink.presence(state as PresenceState, seatInfo(peerId, identity))
        break
      }
      case MessageKind.Replace:
        this.local.unbound(connection, 'there')
        this.forget(connection)
        connection.sink.replace()
        break
      case MessageKind.Barrier:
        if (Number(message.toString('latin1', payload)) === connection.barriers) this.switched(connection, 'direct')
        break
      case MessageKind.Dismiss: {
        const text = message.toString('utf8', payload)
        const bar = text.indexOf('|')
        const why = text.slice(0, bar)
        if (dismissals.has(why)) connection.sink.dismiss(why as Dismissal, text.slice(bar + 1))
        break
      }
    }
  }

  private forget (connection: LocalConnection): void {
    this.local.unbound(connection, 'gone')
    this.switched(connection, 'redis')
    if (this.connections.get(connection.connectionId) === connection) this.connections.delete(connection.connectionId)
    this.unanswer(connection.roomId, connection.peerId, connection.connectionId)
  }

  // Records that this instance answers for a seat; a room's first seat adds it to the instance's
  // room set, which must hold the room before any script gives this instance a seat there (else
  // the seat would outlive a crash of this instance). On one Redis the SADD goes first on the
  // same connection, which is enough. On a cluster the set and the room are on different nodes:
  // the promise returned says when the set holds the room, and the script waits for it.
  private answer (roomId: string, peerId: string, connectionId: string): Promise<unknown> | undefined {
    let seats = this.answerable.get(roomId)
    if (seats === undefined) {
      seats = new Map()
      this.answerable.set(roomId, seats)
      const added = this.client.sadd(this.roomsKey(this.instanceId), roomId)
      this.quietly(added)
      if (this.cluster !== undefined) {
        const listing = added.finally(() => { if (this.listing.get(roomId) === listing) this.listing.delete(roomId) })
        listing.catch(noop)
        this.listing.set(roomId, listing)
      }
    }
    seats.set(peerId, connectionId)
    return this.listing.get(roomId)
  }

  // Runs `script` once `listed` (what `answer` returned) is done.
  private async answered<T> (listed: Promise<unknown> | undefined, script: () => Promise<T>): Promise<T> {
    if (listed !== undefined) await listed
    return await script()
  }

  private unanswer (roomId: string, peerId: string, connectionId: string): void {
    const seats = this.answerable.get(roomId)
    if (seats === undefined || seats.get(peerId) !== connectionId) return
    seats.delete(peerId)
    if (seats.size > 0) return
    this.answerable.delete(roomId)
    this.quietly(this.client.srem(this.roomsKey(this.instanceId), roomId))
  }

  // --- Liveness, recovery and reclaiming the seats of dead instances ---

  /**
   * Takes a fresh instance id: its channel, marker and room set. After Redis was lost (or this
   * instance was presumed dead), the local connections' seats are moved to the new id and given
   * what was queued meanwhile, and the seats left under the old id are reaped like those of any
   * dead instance. Should Redis have lost its data, the co-located rooms are written back first.
   */
  private async register (deadline = performance.now() + this.connectTimeoutMs): Promise<void> {
    const previous = this.instanceId
    const id = randomId(9)
    const remaining = (): number => Math.max(1, deadline - performance.now())
    // On a cluster: a connection to every master (see `start`), and the inbox listening on each.
    await Promise.all((this.cluster?.nodes('master') ?? []).map(async node => await whenReady(node, remaining())))
    await whenReady(this.inbox, remaining())
    await this.inbox.listen(id)
    this.instanceId = id
    // Separate commands: on a cluster, these keys are in different slots. The epoch is set once,
    // by the first instance to find none.
    const [epoch] = await Promise.all([
      this.client.set(this.epochKey(), randomId(12), 'NX').then(async () => await this.client.get(this.epochKey())),
      this.client.set(this.liveKey(id), ++this.beats),
      this.client.sadd(this.instancesKey(), id),
      ...(this.answerable.size > 0 ? [this.client.sadd(this.roomsKey(id), ...this.answerable.keys())] : [])
    ])
    // Everything sent on this connection before has been answered: frames are taken again before
    // the resyncs below tell the other peers that this instance's are back.
    this.health.answered()
    if (previous !== '' && epoch !== this.epoch) await this.restore()
    this.epoch = epoch ?? ''
    this.unrecorded.clear()
    if (previous === '') return
    const connections = [...this.connections.values()]
    await Promise.all(connections.map(connection => this.resync(connection)))
    await this.reapInstance(previous)
    await this.inbox.unlisten(previous)
  }

  // Redis lost its data: the calls whose every seat is a connection of this process are written
  // back as Redis last gave them, bound to this instance, and go on. What was queued in Redis is
  // lost, and so is what was on its way through it. Not written back, and ended by the resyncs
  // that find them gone: rooms split across instances (no instance knows the whole), rooms with a
  // seat away (its grace period was kept by Redis), reserved for a handshake under way, or whose
  // leave may not have reached Redis (the other peer would never be told), and a peer alone in its
  // room (what it sent waits in the queue for the next peer to join, and that is lost).
  private async restore (): Promise<void> {
    const restored = await Promise.all(this.local.coLocated().map(async ([roomId, connections]) => {
      const seats = this.answerable.get(roomId)
      const whole = connections.length > 1 && seats?.size === connections.length && !this.unrecorded.has(roomId) &&
        connections.every(({ peerId, connectionId, seat }) => seats.get(peerId) === connectionId && seat !== undefined)
      const room = connections[0]?.room
      if (!whole || room === undefined) return 0
      const written = await this.client.rtcNotifyRestore(...this.keys(roomId), JSON.stringify(room),
        this.instanceId, ...connections.map(({ seat }) => JSON.stringify(seat)))
      if (written === 1) for (const { seat } of connections) if (seat?.token !== undefined) this.indexToken(seat.token, roomId)
      return written
    }))
    this.log.warn({ instance: this.instanceId, rooms: restored.filter(written => written === 1).length },
      'Redis lost its data: the calls whose peers are all connected here were written back, the others end')
  }

  private async resync (connection: LocalConnection): Promise<void> {
    const reply = await this.fetch(connection, () => this.client.rtcNotifyResyncBuffer(
      ...this.keys(connection.roomId), connection.peerId, connection.connectionId, this.instanceId))
    const status = String(reply[0])
    if (status === 'gone') {
      this.forget(connection)
      connection.sink.end()
    } else if (status === 'replaced') {
      this.forget(connection)
      connection.sink.replace()
    }
  }

  // A connection closed: commands fail until both are back and the instance registered again.
  private lost (): void {
    if (!this.started || this.closed) return
    if (this.available) this.log.warn({}, 'lost Redis: refusing joins until it is back')
    this.registered = false
    // A barrier may have been lost with the connection: frames waiting for one go through Redis.
    for (const connection of this.connections.values()) this.switched(connection, 'redis')
  }

  private answeringChanged (answering: boolean): void {
    if (!this.started || this.closed || !this.registered) return
    if (answering) {
      this.judge.distrust(performance.now())
      this.log.info({ instance: this.instanceId }, 'Redis answers again: serving again')
    } else {
      this.log.warn({ commandTimeoutMs: this.commandTimeoutMs }, 'Redis does not answer: refusing joins and frames until it does')
    }
  }

  // Serialized: a second call while one runs makes it run once more.
  private async recover (): Promise<void> {
    if (this.closed || this.client.status !== 'ready' || this.inbox.status !== 'ready') return
    if (this.recovering !== undefined) {
      this.recoverAgain = true
      return
    }
    this.recovering = (async () => {
      try {
        do {
          this.recoverAgain = false
          this.registered = false
          await this.register()
        } while (this.recoverAgain)
        if (this.closed) return
        this.registered = true
        this.judge.distrust(performance.now())
        this.log.info({ instance: this.instanceId }, 'Redis is back: serving again')
      } catch (err) {
        if (this.closed) return
        this.log.warn({ err }, 'could not resume with Redis; retrying')
        this.after(recoverRetryMs, () => this.recover())
      } finally {
        this.recovering = undefined
      }
    })()
    await this.recovering
  }

  /**
   * Bumps this instance's marker; it is also the probe that tells when Redis answers again. A
   * slow answer means Redis stalled: what the sweeps saw meanwhile cannot condemn anyone. A
   * missing marker means this instance was presumed dead (it was cut off, or frozen, longer than
   * livenessMs) and its seats may have been reaped: it starts over under a new id.
   */
  private async heartbeat (): Promise<void> {
    if (!this.registered || this.recovering !== undefined) return
    const id = this.instanceId
    const sentAt = performance.now()
    const kept = await this.health.probe(async () => await this.beat(id))
    const now = performance.now()
    if (now - sentAt > this.livenessMs / 4) this.judge.distrust(now)
    if (kept === null && id === this.instanceId && !this.closed) {
      this.log.warn({ instance: id }, 'this instance was presumed dead; registering again')
      await this.recover()
    }
  }

  // Bumps the marker. On a cluster the probe also pings every master: each answers its own
  // connection's commands in order, and one node answering says nothing of the others.
  private async beat (id: string): Promise<string | null> {
    const pings = (this.cluster?.nodes('master') ?? []).map(async node => await node.ping())
    const [kept] = await Promise.all([this.client.set(this.liveKey(id), ++this.beats, 'XX'), ...pings])
    return kept
  }

  private async sweep (): Promise<void> {
    if (!this.available) return
    const ids = (await this.client.smembers(this.instancesKey())).filter(id => id !== this.instanceId)
    const markers = await Promise.all(ids.map(async id => await this.client.get(this.liveKey(id))))
    if (!this.available) return
    for (const { id, marker } of this.judge.observe(ids, markers, performance.now())) {
      await this.reapInstance(id, marker)
    }
  }

  /**
   * Reclaims every seat a dead instance answered for; one instance at a time does it.
   * @param judgedBy the marker it was judged dead by: nothing is reaped if it changed since
   */
  private async reapInstance (dead: string, judgedBy?: string | null): Promise<void> {
    const lock = `${this.liveKey(dead)}:reaper`
    if (await this.client.set(lock, this.instanceId, 'PX', reaperLockMs, 'NX') === null) return
    // Deleting the marker first tells the instance, if it is in fact alive, at its next beat.
    if (judgedBy !== undefined && await this.client.rtcNotifyCondemn(this.liveKey(dead), judgedBy ?? '') === 0) {
      await this.client.del(lock)
      return
    }
    const rooms = await this.client.smembers(this.roomsKey(dead))
    if (rooms.length > 0) this.log.info({ instance: dead, rooms: rooms.length }, 'reclaiming the seats of a dead instance')
    await Promise.all(rooms.map(roomId => this.reapRoom(roomId, dead)))
    await Promise.all([this.roomsKey(dead), this.liveKey(dead), lock].map(async key => await this.client.del(key)))
    await this.client.srem(this.instancesKey(), dead)
  }

  private async reapRoom (roomId: string, dead: string): Promise<void> {
    // Listed as this instance's before the script, which may make it answerable for seats.
    await this.client.sadd(this.roomsKey(this.instanceId), roomId)
    const reply = await this.client.rtcNotifyReap(...this.keys(roomId), dead, this.instanceId, Date.now(), this.graceMs,
      this.graceMs + 2 * this.livenessMs)
    const end = this.roomEndOf(reply, 0)
    if (end !== undefined) {
      this.log.info({ room: roomId }, 'room deleted: a peer\'s instance died')
      this.roomEnded?.(roomId, end, 'instance-lost')
    }
    for (let i = 1; reply[0] === 'adopted' && i < reply.length; i += 3) {
      const peerId = String(reply[i])
      const connectionId = String(reply[i + 1])
      // The room is in this instance's set already (the SADD above was awaited).
      void this.answer(roomId, peerId, connectionId)
      // The dead instance's grace timer: a leave, unless the peer came back meanwhile.
      this.after(Number(reply[i + 2]) - Date.now(), () => this.expireGrace(roomId, peerId, connectionId))
    }
    if (!this.answerable.has(roomId)) await this.client.srem(this.roomsKey(this.instanceId), roomId)
  }

  // Runs `task` every `ms`, skipping a turn while the previous run is still under way.
  private every (ms: number, task: () => Promise<void>): void {
    let running = false
    const timer = setInterval(() => {
      if (running) return
      running = true
      task().catch((err: unknown) => {
        this.health.failed(err)
        if (this.available) this.log.warn({ err }, 'redis store housekeeping failed')
      }).finally(() => { running = false })
    }, ms).unref()
    this.timers.add(timer)
  }

  private after (ms: number, task: () => Promise<unknown>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      task().catch((err: unknown) => {
        this.health.failed(err)
        this.log.warn({ err }, 'redis store housekeeping failed')
      })
    }, Math.max(0, ms)).unref()
    this.timers.add(timer)
  }

  private roomKey (roomId: string): string { return `${this.prefix}{${roomId}}:room` }
  private roomIdOf (roomKey: string): string { return roomKey.slice(this.prefix.length + 1, -'}:room'.length) }
  private queueKey (roomId: string): string { return `${this.prefix}{${roomId}}:queue` }
  private liveKey (id: string): string { return `${this.prefix}instance:${id}` }
  private roomsKey (id: string): string { return `${this.prefix}instance:${id}:rooms` }
  private instancesKey (): string { return `${this.prefix}instances` }
  private epochKey (): string { return `${this.prefix}instances:epoch` }
  private tokenKey (token: string): string { return `${this.prefix}token:${token}` }
}

/**
 * Creates a Redis room store: `redisStore({ url: 'redis://127.0.0.1:6379' })`,
 * `redisStore({ cluster: ['redis://10.0.0.1:7000', ...] })` or `redisStore({ client })`.
 */
export function redisStore (options: RedisStoreOptions): RedisStore {
  return new RedisStore(options)
}

/** A seat as the scripts give it: identity '' for none. */
function seatInfo (peerId: string, identity: string | undefined): SeatInfo {
  return identity === undefined || identity === '' ? { peerId } : { peerId, identity }
}

interface OtherSeat extends SeatInfo {
  state: 'joining' | 'connected' | 'away'
  /** The instance a connected seat is bound to. */
  instance?: string
}

function parseOthers (json: string): OtherSeat[] {
  return (JSON.parse(json) as OtherSeat[]).map(other => {
    const seat: OtherSeat = { ...seatInfo(other.peerId, other.identity), state: other.state }
    if (other.instance !== undefined) seat.instance = other.instance
    return seat
  })
}

/** A room's hash as a listing, or undefined when the room is gone. */
function roomListing (roomId: string, fields: Record<string, string>): RoomListing | undefined {
  if (fields.meta === undefined) return undefined
  const meta = JSON.parse(fields.meta) as RoomMeta
  const seats = []
  for (const [name, value] of Object.entries(fields)) {
    if (!name.startsWith('seat:')) continue
    const seat = JSON.parse(value) as StoredSeat
    const state = seat.state === 'bound' ? 'connected' : seat.everBound ? 'away' : 'joining'
    seats.push({ ...seatInfo(seat.peer, seat.identity), state, since: seat.since ?? meta.createdAt } as const)
  }
  return { roomId, size: meta.size, createdAt: meta.createdAt, seats }
}

// Lua reads numbers from strings; "Infinity" is not one.
function finite (n: number): number {
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER
}

function positive (name: string, value: number | undefined, byDefault: number): number {
  if (value === undefined) return byDefault
  if (!(Number.isFinite(value) && value > 0)) throw new InvalidOptionError(name, 'expected a number above 0')
  return value
}
