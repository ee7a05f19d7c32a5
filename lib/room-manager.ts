import type WebSocket from 'ws'
import {
  CapacityError, RoomFullError, ShuttingDownError, StoreUnavailableError, BadResumeTokenError
} from './errors.js'
import type { IceServer } from './options.js'
import { CloseCode, Peer } from './peer.js'
import {
  Failure, Rejection, Resource, failedReply, parseFrame, refusal, successReply,
  type FailureReason, type GetFrame
} from './protocol.js'
import { randomId } from './random-id.js'
import { RateLimiter } from './rate-limiter.js'
import type { RelayOutcome, RoomStore } from './stores/store.js'

/** The part of a pino logger the room manager uses. */
export interface ManagerLog {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
  isLevelEnabled?: (level: string) => boolean
}

/** Counters the manager reports to, if metrics are on. */
export interface ManagerMetrics {
  relayed (): void
  queued (): void
  frameRejected (reason: FailureReason): void
}

/** What the room manager needs; durations in milliseconds. */
export interface RoomManagerOptions {
  store: RoomStore
  log: ManagerLog
  maxPayload: number
  queueMaxMessages: number
  queueMaxBytes: number
  queueMaxAgeMs: number
  /** 0 turns heartbeats off. */
  heartbeatIntervalMs: number
  messageRate: number
  messageBurst: number
  maxRooms?: number
  maxPeers?: number
  /** 0 turns sessions (resume) off. */
  graceMs: number
  /** The ICE servers to hand a peer that asks for its RTCPeerConnection configuration. */
  iceServers: (peer: Peer) => IceServer[] | Promise<IceServer[]>
  metrics?: ManagerMetrics
}

/** A seat taken at a handshake, held until its connection opens or the handshake fails. */
export interface Seat {
  readonly roomId: string
  readonly peerId: string
  /** Taken back with a resume token rather than newly reserved. */
  readonly resumed: boolean
  /** The session's token, when resumed: the new connection holds the session. */
  readonly token?: string
  /** Set once the seat was connected or released. */
  settled: boolean
}

const kPeer = Symbol('rtc-notify.peer')
type TaggedSocket = WebSocket & { [kPeer]: Peer }

// How long shutdown waits for peers to finish the closing handshake before cutting them off.
const closeTimeoutMs = 2000

/**
 * The rules of a call: who may take a seat, where a frame goes, what a leave does. It knows
 * WebSockets and a RoomStore, and nothing of Fastify.
 */
export class RoomManager {
  private readonly store: RoomStore
  private readonly log: ManagerLog
  private readonly logFrames: boolean
  private readonly peers = new Set<Peer>()
  private readonly seatsByRoom = new Map<string, number>()
  private seatCount = 0
  private readonly pending = new Set<Promise<unknown>>()
  private readonly graceTimers = new Set<NodeJS.Timeout>()
  private heartbeat: NodeJS.Timeout | undefined
  private closing = false
  private failureLoggedAt = 0
  private failuresSuppressed = 0
  private whenAllClosed: (() => void) | undefined
  // One listener of each kind for every socket; the socket carries its Peer.
  private readonly onMessage: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void
  private readonly onClose: (this: WebSocket, code: number) => void
  private readonly onError: (this: WebSocket, error: Error) => void

  constructor (private readonly options: RoomManagerOptions) {
    this.store = options.store
    this.log = options.log
    this.logFrames = options.log.isLevelEnabled?.('debug') ?? false
    const manager = this
    this.onMessage = function (data, isBinary) { manager.receive((this as TaggedSocket)[kPeer], data as Buffer, isBinary) }
    this.onClose = function (code) { manager.closed((this as TaggedSocket)[kPeer], code) }
    this.onError = function (error) {
      const peer = (this as TaggedSocket)[kPeer]
      // ws closes the connection itself after a protocol error (1009 for a frame over
      // maxPayload, 1007 for invalid UTF-8): the server refused it, the client did not drop.
      peer.ending ??= 'refused'
      manager.log.debug({ err: error, room: peer.roomId }, 'socket error')
    }
  }

  /** Starts the store and the heartbeat. */
  async start (): Promise<void> {
    const o = this.options
    await this.store.start({
      limits: { maxMessages: o.queueMaxMessages, maxBytes: o.queueMaxBytes, maxAgeMs: o.queueMaxAgeMs },
      graceMs: o.graceMs,
      log: this.log
    })
    if (o.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.checkHeartbeats(), o.heartbeatIntervalMs).unref()
    }
  }

  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number } {
    return { rooms: this.seatsByRoom.size, peers: this.seatCount }
  }

  /**
   * Takes a seat in a room for a handshake, before the upgrade.
   * @throws RoomFullError, CapacityError, StoreUnavailableError or ShuttingDownError
   */
  async reserve (roomId: string): Promise<Seat> {
    this.checkCapacity(roomId)
    const seat: Seat = { roomId, peerId: randomId(12), resumed: false, settled: false }
    // Counted before the await, so racing handshakes see each other against the caps.
    this.countSeat(roomId, 1)
    let result
    try {
      result = await this.store.reserve(roomId, seat.peerId)
    } catch (err) {
      this.countSeat(roomId, -1)
      this.log.error({ err, room: roomId }, 'room store failed to take a seat')
      throw new StoreUnavailableError()
    }
    if (result === 'full') {
      this.countSeat(roomId, -1)
      throw new RoomFullError()
    }
    if (result === 'created') this.log.info({ room: roomId }, 'room created')
    return seat
  }

  /**
   * Takes back the seat a resume token names, before the upgrade.
   * @throws BadResumeTokenError, CapacityError, StoreUnavailableError or ShuttingDownError
   */
  async claim (roomId: string, token: string): Promise<Seat> {
    this.checkCapacity(roomId)
    let result
    try {
      result = await this.store.claim(roomId, token)
    } catch (err) {
      this.log.error({ err, room: roomId }, 'room store failed to look up a resume token')
      throw new StoreUnavailableError()
    }
    if (!result.ok) {
      throw new BadResumeTokenError(result.reason === 'wrong_room' ? 'token is for another room' : 'unknown or expired token')
    }
    this.countSeat(roomId, 1)
    return { roomId, peerId: result.peerId, resumed: true, token, settled: false }
  }

  /** Gives back a seat whose handshake did not become a connection. */
  release (seat: Seat): void {
    if (seat.settled) return
    seat.settled = true
    this.countSeat(seat.roomId, -1)
    // A resumed seat still belongs to the peer that dropped; its grace period runs on.
    if (seat.resumed) return
    this.track(this.store.release(seat.roomId, seat.peerId).then(deleted => {
      if (deleted) this.log.info({ room: seat.roomId }, 'room deleted')
    }))
  }

  /**
   * Binds an open WebSocket to its seat. Listeners are attached synchronously, so no frame
   * is missed; frames queued for the peer arrive before anything else.
   * @param handshake kept on the Peer for answers that need the handshake (ICE functions)
   */
  connect (seat: Seat, socket: WebSocket, handshake?: unknown): Peer | undefined {
    if (this.closing) {
      // Shutdown began while this handshake was in flight: the seat goes back, unused.
      this.release(seat)
      socket.close(CloseCode.GoingAway, 'server shutting down')
      return undefined
    }
    seat.settled = true
    const o = this.options
    const peer = new Peer(socket, seat.roomId, seat.peerId, randomId(9),
      new RateLimiter(o.messageRate, o.messageBurst, Date.now()), handshake)
    peer.token = seat.token
    ;(socket as TaggedSocket)[kPeer] = peer
    socket.on('message', this.onMessage)
    socket.on('close', this.onClose)
    socket.on('error', this.onError)
    socket.on('pong', onPong)
    this.peers.add(peer)
    this.track(this.store.attach(seat.roomId, seat.peerId, peer.connectionId, peer).then(() => this.attached(peer), err => {
      this.log.error({ err, room: seat.roomId }, 'room store failed to bind a connection')
      peer.close(CloseCode.InternalError, Failure.Internal.message, 'refused')
    }))
    return peer
  }

  /** Closes every peer with 1001, waits for them (a few seconds at most), then the store. */
  async close (): Promise<void> {
    this.closing = true
    clearInterval(this.heartbeat)
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

  private checkCapacity (roomId: string): void {
    const o = this.options
    if (this.closing) throw new ShuttingDownError()
    if (!this.store.available) throw new StoreUnavailableError()
    if (o.maxPeers !== undefined && this.seatCount >= o.maxPeers) throw new CapacityError('maxPeers reached')
    if (o.maxRooms !== undefined && !this.seatsByRoom.has(roomId) && this.seatsByRoom.size >= o.maxRooms) {
      throw new CapacityError('maxRooms reached')
    }
  }

  private countSeat (roomId: string, delta: 1 | -1): void {
    this.seatCount += delta
    const n = (this.seatsByRoom.get(roomId) ?? 0) + delta
    if (n > 0) this.seatsByRoom.set(roomId, n)
    else this.seatsByRoom.delete(roomId)
  }

  // The hot path: every frame of every peer.
  private receive (peer: Peer, data: Buffer, isBinary: boolean): void {
    if (peer.ending !== undefined) return
    if (peer.backlog !== undefined) return this.hold(peer, data, isBinary)
    const verdict = peer.limiter.take(Date.now())
    if (verdict === 'abusive') return peer.close(CloseCode.PolicyViolation, 'rate limit exceeded', 'refused')
    if (isBinary) return this.reject(peer, new Rejection(verdict === 'allowed' ? Failure.BinaryFrame : Failure.RateLimited))
    // ws enforces maxPayload itself when it was configured with ours; an app that registered
    // @fastify/websocket with a larger limit gets the same answer here.
    if (data.length > this.options.maxPayload) {
      peer.close(CloseCode.TooBig, 'frame too large', 'refused')
      return
    }
    const frame = parseFrame(data.toString())
    // A limited frame is still parsed, to echo its msg_id: the client may be waiting on it.
    // (A client that keeps it up is closed as abusive, which bounds that work.)
    if (verdict === 'limited') return this.reject(peer, refusal(frame, Failure.RateLimited))
    if (frame instanceof Rejection) return this.reject(peer, frame)
    if (this.logFrames) this.log.debug({ room: peer.roomId, method: frame.method, bytes: data.length }, 'frame')
    if (frame.method === 'NOTIFY') {
      // A valid NOTIFY already has the exact outgoing shape: its bytes go on as they came.
      const outcome = this.store.relay(peer.roomId, peer.peerId, data)
      if (typeof outcome === 'string') this.relayed(peer, outcome)
      else outcome.then(o => this.relayed(peer, o), err => this.failed(peer, err))
      return
    }
    if (frame.resource === Resource.PeerConnection) this.answerConfiguration(peer, frame)
    else this.answerSession(peer, frame).catch(err => this.failed(peer, err, frame))
  }

  // Frames that arrive while the store binds the connection wait for it: what was queued for
  // the peer must reach it before anything else, the answers to its own first requests too.
  private hold (peer: Peer, data: Buffer, isBinary: boolean): void {
    const backlog = peer.backlog!
    if (backlog.length >= this.options.messageBurst) {
      peer.close(CloseCode.PolicyViolation, 'rate limit exceeded', 'refused')
      return
    }
    backlog.push([data, isBinary])
  }

  private attached (peer: Peer): void {
    const backlog = peer.backlog
    peer.backlog = undefined
    if (backlog !== undefined) for (const [data, isBinary] of backlog) this.receive(peer, data, isBinary)
  }

  private relayed (peer: Peer, outcome: RelayOutcome): void {
    const metrics = this.options.metrics
    switch (outcome) {
      case 'delivered':
        metrics?.relayed()
        break
      case 'queued':
        metrics?.queued()
        if (peer.expiryTimer === undefined) this.scheduleExpiry(peer, this.options.queueMaxAgeMs)
        break
      case 'queue_full':
        this.reject(peer, new Rejection(Failure.QueueFull))
        break
      case 'gone':
        break
    }
  }

  // Answered at once when the ICE servers are at hand, so answers keep the order of requests.
  private answerConfiguration (peer: Peer, frame: GetFrame): void {
    const reply = (iceServers: IceServer[]): void => peer.send(successReply(frame, { configuration: { iceServers } }))
    let iceServers
    try {
      iceServers = this.options.iceServers(peer)
    } catch (err) {
      return this.failed(peer, err, frame)
    }
    if (Array.isArray(iceServers)) reply(iceServers)
    else iceServers.then(reply, err => this.failed(peer, err, frame))
  }

  private async answerSession (peer: Peer, frame: GetFrame): Promise<void> {
    const graceMs = this.options.graceMs
    if (graceMs === 0) return this.reject(peer, refusal(frame, Failure.SessionsDisabled))
    const grant = await this.store.openSession(peer.roomId, peer.peerId, peer.token ?? randomId(24))
    peer.token = grant.token
    peer.send(successReply(frame, { peer: peer.peerId, token: grant.token, grace: graceMs / 1000 }))
    if (grant.partner === 'connected') peer.presence('joined')
    else if (grant.partner === 'away') peer.presence('reconnecting')
  }

  private reject (peer: Peer, rejection: Rejection): void {
    this.options.metrics?.frameRejected(rejection.failure)
    peer.send(failedReply(rejection))
  }

  private failed (peer: Peer, err: unknown, frame?: GetFrame): void {
    // One log line a second at most: with the store unreachable, every frame of every peer fails.
    const now = Date.now()
    if (now - this.failureLoggedAt >= 1000) {
      this.log.error({ err, room: peer.roomId, suppressed: this.failuresSuppressed }, 'failed to handle a frame')
      this.failureLoggedAt = now
      this.failuresSuppressed = 0
    } else {
      this.failuresSuppressed++
    }
    this.reject(peer, frame === undefined ? new Rejection(Failure.Internal) : refusal(frame, Failure.Internal))
  }

  private scheduleExpiry (peer: Peer, delayMs: number): void {
    peer.expiryTimer = setTimeout(() => {
      peer.expiryTimer = undefined
      this.track(this.store.expire(peer.roomId, peer.peerId, Date.now()).then(result => {
        if (peer.ending !== undefined || this.closing) return
        if (result.dropped > 0) this.reject(peer, new Rejection(Failure.QueueExpired))
        if (result.nextExpiryAt !== null) this.scheduleExpiry(peer, Math.max(0, result.nextExpiryAt - Date.now()))
      }, err => this.log.error({ err, room: peer.roomId }, 'room store failed to expire queued messages')))
    }, delayMs).unref()
  }

  private closed (peer: Peer, code: number): void {
    this.peers.delete(peer)
    clearTimeout(peer.expiryTimer)
    this.countSeat(peer.roomId, -1)
    if (this.peers.size === 0) this.whenAllClosed?.()
    const ending = peer.ending
    // The store already ended the room, or the seat lives on in another connection.
    if (ending === 'partner_left' || ending === 'replaced') return
    const dropped = ending === 'shutdown' || (ending === undefined && !closedOnPurpose(code))
    if (peer.token !== undefined && this.options.graceMs > 0 && dropped) {
      this.track(this.suspend(peer))
    } else {
      this.track(this.leave(peer))
    }
  }

  private async leave (peer: Peer): Promise<void> {
    const ended = await this.store.leave(peer.roomId, peer.peerId, peer.connectionId)
    if (ended) this.log.info({ room: peer.roomId }, 'room deleted')
  }

  private async suspend (peer: Peer): Promise<void> {
    const kept = await this.store.suspend(peer.roomId, peer.peerId, peer.connectionId)
    if (!kept) return
    this.log.info({ room: peer.roomId }, 'peer dropped; seat held for its grace period')
    const timer = setTimeout(() => {
      this.graceTimers.delete(timer)
      this.track(this.leave(peer))
    }, this.options.graceMs).unref()
    this.graceTimers.add(timer)
  }

  private checkHeartbeats (): void {
    for (const peer of this.peers) {
      if (!peer.alive) {
        this.log.info({ room: peer.roomId }, 'peer missed a heartbeat; terminating')
        peer.socket.terminate()
        continue
      }
      peer.alive = false
      peer.socket.ping()
    }
  }

  // Store calls made outside a request are tracked so that close() can wait for them, and
  // their failures are logged rather than left unhandled.
  private track (operation: Promise<unknown>): void {
    const tracked = operation.catch(err => this.log.error({ err }, 'room store operation failed'))
      .finally(() => this.pending.delete(tracked))
    this.pending.add(tracked)
  }
}

function onPong (this: WebSocket): void {
  (this as TaggedSocket)[kPeer].alive = true
}

// A close frame with 1000 or 1001 (or with no code, which is what a browser's close() sends)
// is a hang-up. Anything else (no close frame at all, an error code) is a drop.
function closedOnPurpose (code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005
}
