/**
 * The room store: where seats, queues and session tokens live, and how a frame reaches a peer
 * that may be connected to another process. The room manager talks only to this interface, so
 * an in-memory store and a Redis store are interchangeable.
 *
 * Every seat operation is atomic in the store: two joins racing for the last seat, from any
 * number of processes, never both win.
 */

import type { PresenceState } from '../wire.js'

export type { PresenceState } from '../wire.js'

/** A frame as it is handed on: the bytes a client sent, or text the server made. */
export type Frame = Buffer | string

/** A seat as other peers and the app see it: its peer id and the identity `authorize` gave it. */
export interface SeatInfo {
  peerId: string
  /** The peer's identity as JSON text, when `authorize` returned one. */
  identity?: string
}

/** Why the app dismisses a peer: `kick` or `closeRoom`. */
export type Dismissal = 'kicked' | 'room-closed'

/**
 * What a store calls on a peer whose connection lives in this process. The store may call
 * these from a message of another process; they must not throw.
 */
export interface PeerSink {
  /**
   * The room, as the peer finds it when its connection is bound (before any queued frame): its
   * size, and the other seats in it.
   */
  welcome (size: number, others: SeatInfo[]): void
  /** A frame for the peer (a NOTIFY from another peer, an APP frame), to be sent exactly as given. */
  deliver (frame: Frame): void
  /** The other peer of a two-party room left: the call is over and this connection is closed (1000). */
  end (): void
  /** Another peer of the room joined, dropped, came back or left. */
  presence (state: PresenceState, peer: SeatInfo): void
  /** Another connection resumed this peer's seat: this one is closed (4001). */
  replace (): void
  /** The app dismissed the peer (4003) or closed its room (4004); `reason` is the app's words. */
  dismiss (why: Dismissal, reason: string): void
}

/** Limits on what a room may hold for a peer that is not connected. */
export interface QueueLimits {
  /** Messages queued per room. */
  maxMessages: number
  /** Bytes queued per room (the frames' byte lengths). */
  maxBytes: number
  /**
   * Bytes queued in all rooms together, where the queues live in this process's memory (an
   * in-process store); a store that keeps queues elsewhere may ignore it.
   */
  maxTotalBytes?: number
  /** Age in milliseconds after which a queued message is dropped (Infinity: never). */
  maxAgeMs: number
}

/** What the room manager gives a store when it starts. */
export interface StoreContext {
  limits: QueueLimits
  /** Milliseconds a dropped session peer keeps its seat (0: sessions off). */
  graceMs: number
  log: StoreLog
  /**
   * Called when the store itself ends a room, not in answer to a call of the manager's: a grace
   * period it was keeping ran out, or the instance a peer was connected to died.
   */
  roomEnded?: (roomId: string, end: RoomEnd, reason: 'grace-expired' | 'instance-lost') => void
}

/** The part of a pino logger a store uses. */
export interface StoreLog {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** The result of taking a seat at the handshake. */
export type ReserveResult = 'created' | 'joined' | 'full'

/**
 * The result of handing a frame on to the other peers of a room (or to one, `to`):
 * - `delivered`: sent to every connected recipient (possibly in another process), and queued
 *   for those not connected;
 * - `queued`: no recipient is connected; the frame waits for them (or, with nobody else in the
 *   room, for the next peer to join);
 * - `queue_full`: the frame had to wait and the queue is at its limit; not stored, nor sent;
 * - `no_peer`: `to` names no peer of the room;
 * - `gone`: the room, or the sender's seat, no longer exists (the call ended meanwhile).
 */
export type RelayOutcome = 'delivered' | 'queued' | 'queue_full' | 'no_peer' | 'gone'

/** A room that ended. */
export interface RoomEnd {
  /** When it was created (ms since epoch). */
  createdAt: number
  /** Its seats that had no connection when it ended (session peers away), whose leave this is too. */
  unbound: SeatInfo[]
}

/** What a leave did: nothing (the seat is gone, or bound to another connection), or took the seat back and maybe ended the room. */
export type LeaveResult =
  | { left: false }
  | { left: true, ended: RoomEnd | undefined }

/** What became of a seat the app kicked. */
export type KickResult =
  | { found: false }
  /** Its connection is being dismissed; its own process reports the leave. */
  | { found: true, connected: true }
  /** It had no connection (away or joining): the seat was taken back here, and maybe the room ended. */
  | { found: true, connected: false, seat: SeatInfo, ended: RoomEnd | undefined }

/** A seat as a room listing shows it. */
export interface SeatListing extends SeatInfo {
  /** `joining`: taken at a handshake, not yet bound; `connected`; `away`: a session peer that dropped. */
  state: 'joining' | 'connected' | 'away'
  /** When it entered that state (ms since epoch). */
  since: number
}

/** A room as a listing shows it. */
export interface RoomListing {
  roomId: string
  size: number
  createdAt: number
  seats: SeatListing[]
}

/** The result of expiring old queued messages a sender left for an absent partner. */
export interface ExpiryResult {
  /** How many messages were dropped. */
  dropped: number
  /** When the next remaining message of this sender expires (ms since epoch), or null. */
  nextExpiryAt: number | null
}

/** A session's token, and the other seats of the room when it was issued. */
export interface SessionGrant {
  token: string
  others: Array<SeatInfo & { state: 'joining' | 'connected' | 'away' }>
}

/** The seat a resume token names. */
export type ClaimResult =
  | { ok: true, seat: SeatInfo }
  | { ok: false, reason: 'unknown_token' | 'wrong_room' | 'wrong_identity' }

export interface RoomStore {
  /** Connects the store; called once by the room manager before any other call. */
  start (context: StoreContext): Promise<void>
  /**
   * Disconnects; seats held by this process are not released (the manager leaves first).
   * Finishes within a few seconds whatever the backend does: shutdown waits for it.
   */
  close (): Promise<void>
  /**
   * Whether the store can take joins right now: false while its backend is unreachable or does
   * not answer in time. Read at every handshake and by /health, so it is cheap.
   */
  readonly available: boolean

  /**
   * Takes a seat for `seat.peerId` in `roomId`, atomically: a room holds `size` seats at most,
   * `size` being given when the room is created (2, the original protocol, unless the app said
   * otherwise). A seat taken here is held until `attach`, `release` or `leave`.
   * @param at when the seat was asked for (ms since the epoch; default: now): a room this
   * creates was created then (its `createdAt`), so that the app's `room:created` and
   * `room:ended` tell the same time
   */
  reserve (roomId: string, seat: SeatInfo, size: number, at?: number): Promise<ReserveResult>
  /**
   * Gives back a seat whose connection never opened; the room goes when it is empty.
   * @returns the room's end, when this ended it
   */
  release (roomId: string, peerId: string): Promise<RoomEnd | undefined>
  /**
   * Binds a connection to a reserved or resumed seat: `sink.welcome` first, then the frames
   * queued for the peer, in order, before anything else. A connection already bound to the
   * seat is replaced (its sink's `replace`). The other peers hear `joined` or, after a
   * suspension, `back`: in a two-party room only peers holding a session pass it on.
   * @param connectionId unique per connection; later calls about the seat name it
   */
  attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void>
  /**
   * Hands a frame from `fromPeerId` to the other peers of the room (or to `to` only), or
   * queues it for those not connected. May answer synchronously (an in-process store does), so
   * the hot path stays cheap. The frame is sent as given: the same bytes to every recipient. A
   * store whose backend does not answer rejects at once, without holding the frame.
   */
  relay (roomId: string, fromPeerId: string, frame: Frame, to?: string): RelayOutcome | Promise<RelayOutcome>
  /** Drops messages `fromPeerId` queued that are older than `limits.maxAgeMs` at `now`. */
  expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult>
  /**
   * The peer leaves: what it queued, and what was queued for it, is dropped. In a two-party
   * room this ends the call: the other peer's connection is ended and the room deleted. In a
   * group room the others hear `left`, and the room goes with its last seat. A no-op when the
   * seat is now bound to another connection.
   * @returns whether the seat left, and the room's end when this ended it
   */
  leave (roomId: string, peerId: string, connectionId: string): Promise<LeaveResult>

  /**
   * Gives a connected seat a resume token (`token`, or the one it already has), and lists the
   * other seats, so the peer can be told at once.
   */
  openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant>
  /**
   * Keeps the seat of a dropped session peer for `graceMs`: frames for it are queued and the
   * other peers hear `reconnecting`. Returns false when the room is already gone.
   */
  suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean>
  /**
   * Finds the seat a resume token belongs to and, atomically, replaces the token with
   * `nextToken`: a token is good for one resume. The seat's identity must be `identity` (the
   * same JSON text), or the token is left as it was and the claim refused.
   */
  claim (roomId: string, token: string, nextToken: string, identity: string | undefined): Promise<ClaimResult>

  /**
   * The app takes a seat back: its token is dropped (no resume), its connection, wherever it
   * is, dismissed (`kicked`); a seat without a connection leaves here and now.
   */
  kick (roomId: string, peerId: string, reason: string): Promise<KickResult>
  /**
   * The app closes a room: every connection, wherever it is, is dismissed (`room-closed`), and
   * the room and its tokens are deleted.
   * @returns the room's end, or undefined when there was no such room
   */
  closeRoom (roomId: string, reason: string): Promise<RoomEnd | undefined>
  /**
   * A frame from the app to the connected peers of a room (or to `to` only), wherever they are.
   * @returns whether the room (and `to`) was found
   */
  send (roomId: string, frame: Frame, to?: string): Promise<boolean>
  /** A room as it is now, or undefined. */
  room (roomId: string): Promise<RoomListing | undefined>
  /** Every room, a few at a time: never all of them in one array. */
  rooms (): AsyncIterable<RoomListing>
}
