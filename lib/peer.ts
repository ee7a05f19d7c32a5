import WebSocket from 'ws'
import { identityOf } from './events.js'
import { presenceFrame, roomFrame } from './protocol.js'
import type { RateLimiter } from './rate-limiter.js'
import type { SourceBudget } from './source-limits.js'
import type { Dismissal, Frame, PeerSink, SeatInfo } from './stores/store.js'
import { CloseCode, type PresenceState } from './wire.js'

// ws sends a Buffer as a binary frame unless told otherwise; relayed NOTIFY bytes are text.
const asText = { binary: false }
// A peer closed for not reading will not read the close frame either: it is cut off after this.
const slowReaderGraceMs = 1000
// The longest a connection goes unread for its source's budget: short next to the heartbeat,
// whose pongs wait meanwhile.
const maxReadHoldMs = 1000
const kPeer = Symbol('rtc-notify.peer')
type TaggedSocket = WebSocket & { [kPeer]?: Peer }

/** Why a connection is going away, once it is; the manager reads it at close. */
export type Ending = 'partner_left' | 'replaced' | 'shutdown' | 'refused' | 'heartbeat' | Dismissal

/** What limits a peer's connection. */
export interface PeerLimits {
  /** Frames per second from this connection. */
  limiter: RateLimiter
  /** Frames and bytes per second from this connection's source address, shared with its other connections. */
  source: SourceBudget | undefined
  /** Bytes that may wait to be sent to this connection before it is closed as too slow. */
  maxBufferedBytes: number
}

/** Who a connection is, in its room. */
export interface PeerSeat {
  roomId: string
  /** The seat's id, stable across resumes. */
  peerId: string
  /** This connection's id, new at every resume. */
  connectionId: string
  /** The identity `authorize` returned, as JSON text. */
  identity: string | undefined
}

/**
 * One connection of a peer to a room, as this process sees it. The store reaches it through
 * the PeerSink methods; the room manager drives the rest.
 */
export class Peer implements PeerSink {
  /** Answered the last heartbeat ping. */
  alive = true
  /** The resume token, once the peer asked for a session. */
  token: string | undefined = undefined
  ending: Ending | undefined = undefined
  /** Frames received while the store binds the connection; undefined once bound. */
  backlog: Array<[Buffer, boolean]> | undefined = []
  /** Answers to this peer's GETs still being made; later answers wait for them. */
  answering: Promise<void> | undefined = undefined
  /** Pending expiry check of frames this peer queued for an absent partner. */
  expiryTimer: NodeJS.Timeout | undefined = undefined
  /** Seats in the room (from the store, once bound): 2 for the original protocol. */
  roomSize = 2
  /** The last PRESENCE state this peer was told of each other peer. */
  private readonly told = new Map<string, PresenceState>()
  /** While its first GET /session is answered: the latest news of each other peer, told after the answer. */
  private heldNews: Map<string, [PresenceState, SeatInfo]> | undefined
  /** Whether reading is on hold (holdReading). */
  private readingHeld = false
  /** When the connection was bound to its seat (ms since epoch). */
  readonly since = Date.now()
  readonly roomId: string
  readonly peerId: string
  readonly connectionId: string
  readonly identity: string | undefined

  /**
   * @param socket the WebSocket
   * @param seat who it is
   * @param limits what limits it
   * @param shareIdentity whether other peers' identities are passed on to it
   * @param handshake what the glue kept of the handshake for later answers (or undefined)
   */
  constructor (
    readonly socket: WebSocket,
    seat: PeerSeat,
    readonly limits: PeerLimits,
    private readonly shareIdentity: boolean,
    readonly handshake: unknown
  ) {
    (socket as TaggedSocket)[kPeer] = this
    this.roomId = seat.roomId
    this.peerId = seat.peerId
    this.connectionId = seat.connectionId
    this.identity = seat.identity
  }

  private parsedIdentity: unknown
  /** The identity, parsed (once) for the app's events. */
  get identityValue (): unknown {
    if (this.parsedIdentity === undefined && this.identity !== undefined) this.parsedIdentity = identityOf(this.identity)
    return this.parsedIdentity
  }

  /** Whether the room is a group room (more than two seats), where peers are told of each other. */
  get inGroup (): boolean {
    return this.roomSize > 2
  }

  /** The peer a socket was bound to. */
  static of (socket: WebSocket): Peer {
    return (socket as TaggedSocket)[kPeer]!
  }

  /** Sends a text frame, if the connection is still open. */
  send (text: string): void {
    if (this.socket.readyState !== WebSocket.OPEN) return
    this.socket.send(text)
    this.checkBuffered()
  }

  /** Stops reading the connection for `ms` (at most a second), so that TCP holds its sender back. */
  holdReading (ms: number): void {
    if (this.readingHeld) return
    this.readingHeld = true
    this.socket.pause()
    setTimeout(() => {
      this.readingHeld = false
      // Also while closing: the peer's close frame must be read.
      this.socket.resume()
    }, Math.min(Math.max(ms, 1), maxReadHoldMs)).unref()
  }

  /** Closes the connection with `code`, remembering why for the close handler. */
  close (code: number, reason: string, ending?: Ending): void {
    if (ending !== undefined && this.ending === undefined) this.ending = ending
    this.socket.close(code, reason)
  }

  deliver (frame: Frame): void {
    if (this.socket.readyState !== WebSocket.OPEN) return
    this.socket.send(frame, asText)
    this.checkBuffered()
  }

  end (): void {
    this.close(CloseCode.CallEnded, 'the other peer left', 'partner_left')
  }

  welcome (size: number, others: SeatInfo[]): void {
    this.roomSize = size
    if (this.inGroup) this.send(roomFrame(this.peerId, size, others, this.shareIdentity))
  }

  // In a two-party room only a peer holding a session is told (the original protocol has no
  // such frame); in a group room every peer is. The same news may come twice (with Redis, the
  // answer to GET /session and the partner's own 'joined' come on two connections, in either
  // order): a peer hears each change once.
  presence (state: PresenceState, peer: SeatInfo): void {
    if (!this.inGroup && this.token === undefined) {
      if (this.heldNews === undefined) return
      this.heldNews.delete(peer.peerId)
      this.heldNews.set(peer.peerId, [state, peer])
      return
    }
    if (this.told.get(peer.peerId) === state) return
    // 'left' is kept too: a seat's id is never given again, so this grows with the room's churn
    // over this connection's life only.
    this.told.set(peer.peerId, state)
    this.send(presenceFrame(state, peer, this.shareIdentity))
  }

  /**
   * Holds the news of its partner that comes while the store answers the peer's first GET
   * /session: with Redis it may come (on the subscriber connection) before the answer, and
   * would be lost for want of a token; told after the answer instead, so the answer comes first.
   */
  holdPresence (): void {
    this.heldNews = new Map()
  }

  /** Tells what was held, if the peer now holds a session, and stops holding. */
  releasePresence (): void {
    const held = this.heldNews
    this.heldNews = undefined
    if (held !== undefined) for (const [state, peer] of held.values()) this.presence(state, peer)
  }

  replace (): void {
    this.close(CloseCode.Replaced, 'replaced', 'replaced')
  }

  dismiss (why: Dismissal, reason: string): void {
    this.close(why === 'kicked' ? CloseCode.Kicked : CloseCode.RoomClosed, reason, why)
  }

  // What a peer does not read waits in this process's memory: past the limit the peer goes,
  // and its partner is told as after any leave.
  private checkBuffered (): void {
    if (this.socket.bufferedAmount <= this.limits.maxBufferedBytes) return
    this.close(CloseCode.TooSlow, 'too slow to read', 'refused')
    const socket = this.socket
    setTimeout(() => socket.terminate(), slowReaderGraceMs).unref()
  }
}
