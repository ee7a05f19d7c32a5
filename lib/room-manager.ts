import type WebSocket from 'ws'
import {
  BadResumeTokenError, RoomFullError, ShuttingDownError, StoreUnavailableError, UnauthorizedError
} from './errors.js'
import { identityOf, type NotifyEvents, type PeerLeftReason, type RoomEndedReason } from './events.js'
import { FrameHandler, type ManagerLog, type ManagerMetrics } from './frame-handler.js'
import { Heartbeat } from './heartbeat.js'
import { Peer } from './peer.js'
import { Failure, appFrame, successReply, type GetRequest, type InboundFrame } from './protocol.js'
import { randomId } from './random-id.js'
import { RateLimiter } from './rate-limiter.js'
import { SeatLedger } from './seat-ledger.js'
import { SourceLimits } from './source-limits.js'
import type { RelayOutcome, RoomEnd, RoomListing, RoomStore, SeatInfo } from './stores/store.js'
import { CloseCode, Resource } from './wire.js'

export type { ManagerLog, ManagerMetrics } from './frame-handler.js'

/** One entry of RTCConfiguration.iceServers, as the manager hands it out. */
export interface IceServerEntry {
  urls: string | string[]
  username?: string
  credential?: string
}

/** What the room manager needs; durations in milliseconds. */
export interface RoomManagerOptions {
  store: RoomStore
  log: ManagerLog
  events: NotifyEvents
  /** Bytes in one frame the server relays; larger frames are answered `failed`. */
  maxPayload: number
  /** Bytes in one frame at which the connection is closed (1009). */
  hardMaxPayload: number
  queueMaxMessages: number
  queueMaxBytes: number
  /** Bytes queued in all rooms of this process together. */
  queueMaxTotalBytes: number
  /** 0: queued messages wait as long as their sender stays. */
  queueMaxAgeMs: number
  /** 0 turns heartbeats off. */
  heartbeatIntervalMs: number
  messageRate: number
  messageBurst: number
  /** Frames and bytes per second from one source address; 0 for no limit. */
  sourceMessageRate: number
  sourceByteRate: number
  /** Bytes waiting to be sent to one connection before it is closed as too slow. */
  maxBufferedBytes: number
  maxRooms?: number
  maxPeers?: number
  /** 0 turns sessions (resume) off. */
  graceMs: number
  /** Whether peers are told each other's identities (PRESENCE, ROOM). */
  shareIdentity: boolean
  /** The ICE servers to hand a peer that asks for its RTCPeerConnection configuration. */
  iceServers: (peer: Peer) => IceServerEntry[] | Promise<IceServerEntry[]>
  metrics?: ManagerMetrics
}

/** A seat taken at a handshake, held until its connection opens or the handshake fails. */
export interface Seat {
  readonly roomId: string
  readonly peerId: string
  /** The identity `authorize` returned, as JSON text. */
  readonly identity: string | undefined
  /** Taken back with a resume token rather than newly reserved. */
  readonly resumed: boolean
  /** The session's token, when resumed (a fresh one: a token is good for one resume). */
  readonly token?: string
  /** Where the handshake came from (its client address), for the per-source limits. */
  readonly source: string
  /** Set once the seat was connected or released. */
  settled: boolean
}

// How long shutdown waits for peers to finish the closing handshake before cutting them off.
const closeTimeoutMs = 2000

/**
 * The rules of a call: who may take a seat, what a connection's life is, what a leave does,
 * and what the app may do to a room. It knows WebSockets and a RoomStore, and nothing of Fastify.
 */
export class RoomManager {
  private readonly store: RoomStore
  private readonly log: ManagerLog
  private readonly events: NotifyEvents
  private readonly peers = new Set<Peer>()
  private readonly ledger: SeatLedger
  private readonly sources: SourceLimits
  private readonly frames: FrameHandler
  private readonly heartbeat: Heartbeat
  private readonly pending = new Set<Promise<unknown>>()
  private readonly graceTimers = new Set<NodeJS.Timeout>()
  private closing = false
  private whenAllClosed: (() => void) | undefined
  // One listener of each kind for every socket; the socket carries its Peer.
  private readonly onMessage: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void
  private readonly onClose: (this: WebSocket, code: number) => void
  private readonly onError: (this: WebSocket, error: Error) => void

  constructor (private readonly options: RoomManagerOptions) {
    this.store = options.store
    this.log = options.log
    this.events = options.events
    this.ledger = new SeatLedger(options)
    this.sources = new SourceLimits(options.sourceMessageRate, options.sourceByteRate)
    this.frames = new FrameHandler({
      maxPayload: options.maxPayload,
      hardMaxPayload: options.hardMaxPayload,
      maxBacklog: options.messageBurst,
      log: options.log,
      metrics: options.metrics,
      refused: (peer, failure) => {
        if (this.events.listenerCount('message:refused') > 0) {
          this.events.fire('message:refused', { roomId: peer.roomId, peerId: peer.peerId, identity: peer.identityValue, at: Date.now(), code: failure.code })
        }
      },
      relay: (peer, frame, to, bytes, inbound) => {
        const outcome = this.store.relay(peer.roomId, peer.peerId, frame, to)
        if (typeof outcome === 'string') this.relayed(peer, outcome, bytes, inbound)
        else outcome.then(o => this.relayed(peer, o, bytes, inbound), err => this.frames.failed(peer, err, inbound))
      },
      answer: (peer, request) => this.answerInOrder(peer, request),
      storeAvailable: () => this.store.available
    })
    this.heartbeat = new Heartbeat(options.heartbeatIntervalMs, this.peers, peer => {
      this.log.info({ room: peer.roomId }, 'peer missed a heartbeat; terminating')
      peer.ending ??= 'heartbeat'
    })
    const manager = this
    this.onMessage = function (data, isBinary) { manager.frames.receive(Peer.of(this), data as Buffer, isBinary) }
    this.onClose = function (code) { manager.closed(Peer.of(this), code) }
    this.onError = function (error) {
      const peer = Peer.of(this)
      // ws closes the connection itself after a protocol error (1009 for a frame over its
      // limit, 1007 for invalid UTF-8): the server refused it, the client did not drop.
      peer.ending ??= 'refused'
      manager.log.debug({ err: error, room: peer.roomId }, 'socket error')
    }
  }

  /** Starts the store and the heartbeat. */
  async start (): Promise<void> {
    const o = this.options
    await this.store.start({
      limits: {
        maxMessages: o.queueMaxMessages,
        maxBytes: o.queueMaxBytes,
        maxTotalBytes: o.queueMaxTotalBytes,
        maxAgeMs: o.queueMaxAgeMs === 0 ? Infinity : o.queueMaxAgeMs
      },
      graceMs: o.graceMs,
      log: this.log,
      roomEnded: (roomId, end, reason) => this.ended(roomId, end, reason, reason === 'grace-expired' ? 'grace-expired' : 'call-ended')
    })
    this.heartbeat.start()
  }

  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number } {
    return this.ledger.stats()
  }

  /**
   * Takes a seat in a room for a handshake, before the upgrade.
   * @param source the client's address
   * @param identity what `authorize` returned, as JSON text
   * @param size the room's size, should this seat create it
   * @throws RoomFullError, CapacityError, StoreUnavailableError or ShuttingDownError
   */
  async reserve (roomId: string, source: string, identity: string | undefined, size: number): Promise<Seat> {
    this.takeSeat(roomId)
    const seat: Seat = { roomId, peerId: randomId(12), identity, resumed: false, source, settled: false }
    const at = Date.now()
    let result
    try {
      result = await this.store.reserve(roomId, { peerId: seat.peerId, identity }, size, at)
    } catch (err) {
      this.ledger.give(roomId)
      this.log.error({ err, room: roomId }, 'room store failed to take a seat')
      throw new StoreUnavailableError()
    }
    if (result === 'full') {
      this.ledger.give(roomId)
      throw new RoomFullError()
    }
    if (result === 'created') {
      this.log.info({ room: roomId }, 'room created')
      this.events.fire('room:created', { roomId, at })
    }
    return seat
  }

  /**
   * Takes back the seat a resume token names, before the upgrade. The token is used up: the
   * session goes on under a fresh one, which the peer's next `GET /session` answers.
   * @param source the client's address
   * @param identity what `authorize` returned this time: it must be the seat's
   * @throws BadResumeTokenError, UnauthorizedError, CapacityError, StoreUnavailableError or ShuttingDownError
   */
  async claim (roomId: string, token: string, source: string, identity: string | undefined): Promise<Seat> {
    this.takeSeat(roomId)
    const next = randomId(24)
    let result
    try {
      result = await this.store.claim(roomId, token, next, identity)
    } catch (err) {
      this.ledger.give(roomId)
      this.log.error({ err, room: roomId }, 'room store failed to look up a resume token')
      throw new StoreUnavailableError()
    }
    if (!result.ok) {
      this.ledger.give(roomId)
      if (result.reason === 'wrong_identity') throw new UnauthorizedError()
      throw new BadResumeTokenError(result.reason === 'wrong_room' ? 'token is for another room' : 'unknown or used token')
    }
    return { roomId, peerId: result.seat.peerId, identity, resumed: true, token: next, source, settled: false }
  }

  /** Gives back a seat whose handshake did not become a connection. */
  release (seat: Seat): void {
    if (seat.settled) return
    seat.settled = true
    this.ledger.give(seat.roomId)
    // A resumed seat still belongs to the peer that dropped; its grace period runs on.
    if (seat.resumed) return
    this.track(this.store.release(seat.roomId, seat.peerId).then(end => {
      if (end !== undefined) this.ended(seat.roomId, end, 'last-peer-left', 'call-ended')
    }))
  }

  /**
   * Binds an open WebSocket to its seat. Listeners are attached synchronously, so no frame
   * is missed; frames queued for the peer arrive before anything else.
   * @param handshake kept on the Peer for answers that need the handshake (ICE functions)
   */
  connect (seat: Seat, socket: WebSocket, handshake?: unknown): Peer | undefined {
    const o = this.options
    const now = Date.now()
    const peer = new Peer(socket, { roomId: seat.roomId, peerId: seat.peerId, connectionId: randomId(9), identity: seat.identity }, {
      limiter: new RateLimiter(o.messageRate, o.messageBurst, now),
      source: this.sources.acquire(seat.source, now),
      maxBufferedBytes: o.maxBufferedBytes
    }, o.shareIdentity, handshake)
    // From here on the socket has an error listener: a bad frame can never go unhandled.
    socket.on('error', this.onError)
    if (this.closing) {
      // Shutdown began while this handshake was in flight: the seat goes back, unused.
      this.sources.release(peer.limits.source)
      this.release(seat)
      socket.close(CloseCode.GoingAway, 'server shutting down')
      return undefined
    }
    seat.settled = true
    peer.token = seat.token
    socket.on('message', this.onMessage)
    socket.on('close', this.onClose)
    socket.on('pong', this.heartbeat.onPong)
    this.peers.add(peer)
    this.track(this.store.attach(seat.roomId, seat.peerId, peer.connectionId, peer).then(() => {
      this.frames.attached(peer)
      if (peer.ending === 'partner_left') return
      this.events.fire(seat.resumed ? 'peer:resumed' : 'peer:joined', this.about(peer))
    }, err => {
      this.log.error({ err, room: seat.roomId }, 'room store failed to bind a connection')
      peer.close(CloseCode.InternalError, Failure.Internal.message, 'refused')
    }))
    return peer
  }

  /** Closes every peer with 1001, waits for them (a few seconds at most), then the store. */
  async close (): Promise<void> {
    this.closing = true
    this.heartbeat.stop()
    if (this.peers.size > 0) {
      const allClosed = new Promise<void>(resolve => { this.whenAllClosed = resolve })
      for (const peer of this.peers) peer.close(CloseCode.GoingAway, 'server shutting down', 'shutdown')
      const timer = setTimeout(() => { for (const peer of this.peers) peer.socket.terminate() }, closeTimeoutMs)
      await allClosed
      clearTimeout(timer)
    }
    while (this.pending.size > 0) await Promise.allSettled([...this.pending])
    for (const timer of this.graceTimers) clearTimeout(timer)
    this.graceTimers.clear()
    await this.store.close()
  }

  // --- What the app may do to a room (fastify.notify), wherever its peers are connected ---

  /**
   * Closes a peer with 4003 and takes its seat back: it cannot resume.
   * @returns whether the room had that peer
   */
  async kick (roomId: string, peerId: string, reason: string): Promise<boolean> {
    const result = await this.store.kick(roomId, peerId, reason)
    if (!result.found) return false
    // A seat without a connection left here; one with a connection leaves where it is.
    if (!result.connected) {
      this.fireLeft(roomId, result.seat, 'kicked', CloseCode.Kicked)
      if (result.ended !== undefined) this.ended(roomId, result.ended, 'peer-left', 'call-ended')
    }
    return true
  }

  /**
   * Closes every peer of a room with 4004 and deletes the room.
   * @returns whether there was such a room
   */
  async closeRoom (roomId: string, reason: string): Promise<boolean> {
    const end = await this.store.closeRoom(roomId, reason)
    if (end === undefined) return false
    this.ended(roomId, end, 'closed', 'room-closed')
    return true
  }

  /**
   * Sends `data` to the connected peers of a room (or to one) as an APP frame.
   * @returns whether the room (and the peer) was found
   * @throws TypeError when `data` cannot be written as JSON
   */
  async send (roomId: string, data: unknown, to?: string): Promise<boolean> {
    return await this.store.send(roomId, appFrame(data), to)
  }

  /** A room as it is now, across every instance sharing the store. */
  async room (roomId: string): Promise<RoomListing | undefined> {
    return await this.store.room(roomId)
  }

  /** Every room, a few at a time. */
  rooms (): AsyncIterable<RoomListing> {
    return this.store.rooms()
  }

  private takeSeat (roomId: string): void {
    if (this.closing) throw new ShuttingDownError()
    if (!this.store.available) throw new StoreUnavailableError()
    this.ledger.take(roomId)
  }

  private relayed (peer: Peer, outcome: RelayOutcome, bytes: number, inbound: InboundFrame): void {
    const metrics = this.options.metrics
    switch (outcome) {
      case 'delivered':
        metrics?.relayed()
        break
      case 'queued':
        metrics?.queued()
        if (peer.expiryTimer === undefined && this.options.queueMaxAgeMs > 0) this.scheduleExpiry(peer, this.options.queueMaxAgeMs)
        break
      case 'queue_full':
        return this.frames.reject(peer, Failure.QueueFull, inbound)
      case 'no_peer':
        return this.frames.reject(peer, Failure.UnknownPeer, inbound)
      case 'gone':
        return
    }
    // The one event of the hot path: nothing is made for it when nobody listens.
    // Per relayed frame: a literal, not a spread of about(), which costs a measurable share.
    if (this.events.relayWatched) this.events.fire('message:relayed', { roomId: peer.roomId, peerId: peer.peerId, identity: peer.identityValue, at: Date.now(), bytes, outcome })
  }

  // Answers go out in the order of the requests: one that must wait (for the store, or an
  // async iceServers function) holds back those after it; the others are answered at once.
  private answerInOrder (peer: Peer, request: GetRequest): void {
    const answer = (): void | Promise<void> => request.resource === Resource.PeerConnection
      ? this.answerConfiguration(peer, request)
      : this.answerSession(peer, request)
    const failed = (err: unknown): void => this.frames.failed(peer, err, request)
    let pending
    if (peer.answering === undefined) {
      try {
        pending = answer()
      } catch (err) {
        return failed(err)
      }
      if (pending === undefined) return
      pending = pending.catch(failed)
    } else {
      pending = peer.answering.then(answer).catch(failed)
    }
    const answering: Promise<void> = pending.finally(() => {
      if (peer.answering === answering) peer.answering = undefined
    })
    peer.answering = answering
  }

  private answerConfiguration (peer: Peer, request: GetRequest): void | Promise<void> {
    const reply = (iceServers: IceServerEntry[]): void => peer.send(successReply(request, { configuration: { iceServers } }))
    const iceServers = this.options.iceServers(peer)
    if (Array.isArray(iceServers)) return reply(iceServers)
    return iceServers.then(reply)
  }

  private async answerSession (peer: Peer, request: GetRequest): Promise<void> {
    const graceMs = this.options.graceMs
    if (graceMs === 0) return this.frames.reject(peer, Failure.SessionsDisabled, request)
    peer.holdPresence()
    let grant
    try {
      grant = await this.store.openSession(peer.roomId, peer.peerId, peer.token ?? randomId(24))
    } catch (err) {
      peer.releasePresence()
      throw err
    }
    peer.token = grant.token
    peer.send(successReply(request, { peer: peer.peerId, token: grant.token, grace: graceMs / 1000 }))
    // A group room's peers learnt who is there from ROOM; a two-party room's session peer
    // learns now where its partner is: as the store saw it when it answered, then any news that
    // came meanwhile (which may be newer).
    if (!peer.inGroup) {
      for (const other of grant.others) {
        if (other.state === 'connected') peer.presence('joined', other)
        else if (other.state === 'away') peer.presence('reconnecting', other)
      }
    }
    peer.releasePresence()
  }

  private scheduleExpiry (peer: Peer, delayMs: number): void {
    peer.expiryTimer = setTimeout(() => {
      peer.expiryTimer = undefined
      this.track(this.store.expire(peer.roomId, peer.peerId, Date.now()).then(result => {
        if (peer.ending !== undefined || this.closing) return
        if (result.dropped > 0) this.frames.reject(peer, Failure.QueueExpired)
        if (result.nextExpiryAt !== null) this.scheduleExpiry(peer, Math.max(0, result.nextExpiryAt - Date.now()))
      }, err => this.log.error({ err, room: peer.roomId }, 'room store failed to expire queued messages')))
    }, delayMs).unref()
  }

  private closed (peer: Peer, code: number): void {
    this.peers.delete(peer)
    clearTimeout(peer.expiryTimer)
    this.ledger.give(peer.roomId)
    this.sources.release(peer.limits.source)
    if (this.peers.size === 0) this.whenAllClosed?.()
    const ending = peer.ending
    switch (ending) {
      // The seat lives on in another connection.
      case 'replaced': return
      // The store already ended the room, or the app closed it.
      case 'partner_left': return this.fireLeft(peer.roomId, peer, 'call-ended', code)
      case 'room-closed': return this.fireLeft(peer.roomId, peer, 'room-closed', code)
      case 'kicked': return this.track(this.leave(peer, 'kicked', code))
      case 'refused': return this.track(this.leave(peer, 'refused', code))
    }
    const dropped = ending === 'shutdown' || ending === 'heartbeat' || (ending === undefined && !closedOnPurpose(code))
    if (peer.token !== undefined && this.options.graceMs > 0 && dropped) return this.track(this.suspend(peer, code))
    const reason = ending === 'shutdown' ? 'shutdown' : ending === 'heartbeat' ? 'heartbeat-timeout' : dropped ? 'dropped' : 'hung-up'
    this.track(this.leave(peer, reason, code))
  }

  private async leave (peer: Peer, reason: PeerLeftReason, code: number): Promise<void> {
    const result = await this.store.leave(peer.roomId, peer.peerId, peer.connectionId)
    // Nothing left when the seat was resumed (here or elsewhere) or the call already ended:
    // whoever did that reports it.
    if (!result.left) return
    this.fireLeft(peer.roomId, peer, reason, code)
    const end = result.ended
    if (end === undefined) return
    const roomReason: RoomEndedReason = reason === 'shutdown'
      ? 'shutdown'
      : reason === 'grace-expired' ? 'grace-expired' : peer.inGroup ? 'last-peer-left' : 'peer-left'
    this.ended(peer.roomId, end, roomReason, 'call-ended')
  }

  private async suspend (peer: Peer, code: number): Promise<void> {
    const kept = await this.store.suspend(peer.roomId, peer.peerId, peer.connectionId)
    if (!kept) return this.fireLeft(peer.roomId, peer, 'call-ended', code)
    this.log.info({ room: peer.roomId }, 'peer dropped; seat held for its grace period')
    this.events.fire('peer:reconnecting', this.about(peer))
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer)
      this.track(this.leave(peer, 'grace-expired', code))
    }, this.options.graceMs).unref()
    this.graceTimers.add(timer)
  }

  // A room ended: logged, told to the app, and so is the leave of its peers that were away.
  private ended (roomId: string, end: RoomEnd, reason: RoomEndedReason, awayReason: PeerLeftReason): void {
    this.log.info({ room: roomId, reason }, 'room deleted')
    for (const seat of end.unbound) this.fireLeft(roomId, seat, awayReason, CloseCode.CallEnded)
    const at = Date.now()
    this.events.fire('room:ended', { roomId, at, createdAt: end.createdAt, durationMs: at - end.createdAt, reason })
  }

  private fireLeft (roomId: string, seat: SeatInfo | Peer, reason: PeerLeftReason, closeCode: number): void {
    if (this.events.listenerCount('peer:left') === 0) return
    this.events.fire('peer:left', { roomId, peerId: seat.peerId, identity: identityOf(seat.identity), at: Date.now(), reason, closeCode })
  }

  private about (peer: Peer): { roomId: string, peerId: string, identity: unknown, at: number } {
    return { roomId: peer.roomId, peerId: peer.peerId, identity: peer.identityValue, at: Date.now() }
  }

  // Store calls made outside a request are tracked so that close() can wait for them, and
  // their failures are logged rather than left unhandled.
  private track (operation: Promise<unknown>): void {
    const tracked = operation.catch(err => this.log.error({ err }, 'room store operation failed'))
      .finally(() => this.pending.delete(tracked))
    this.pending.add(tracked)
  }
}

// A close frame with 1000 or 1001 (or with no code, which is what a browser's close() sends)
// is a hang-up. Anything else (no close frame at all, an error code) is a drop.
function closedOnPurpose (code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005
}
