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

/**
 * What a store calls on a peer whose connection lives in this process. The store may call
 * these from a message of another process; they must not throw.
 */
export interface PeerSink {
  /** A NOTIFY frame from the partner, to be sent exactly as given. */
  deliver (frame: Frame): void
  /** The partner left: the call is over and this connection is closed (1000). */
  end (): void
  /** The partner's presence changed; only peers holding a session pass it on. */
  presence (state: PresenceState): void
  /** Another connection resumed this peer's seat: this one is closed (4001). */
  replace (): void
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
 * The result of handing a frame to the partner:
 * - `delivered`: sent to the partner's connection (possibly in another process);
 * - `queued`: the partner is not connected; the frame waits for it;
 * - `queue_full`: the partner is not connected and the queue is at its limit; not stored;
 * - `gone`: the room no longer exists (the call ended while the frame was in flight).
 */
export type RelayOutcome = 'delivered' | 'queued' | 'queue_full' | 'gone'

/** The result of expiring old queued messages a sender left for an absent partner. */
export interface ExpiryResult {
  /** How many messages were dropped. */
  dropped: number
  /** When the next remaining message of this sender expires (ms since epoch), or null. */
  nextExpiryAt: number | null
}

/** A session's token, and the partner's presence when it was issued. */
export interface SessionGrant {
  token: string
  partner: 'absent' | 'connected' | 'away'
}

/** The seat a resume token names. */
export type ClaimResult =
  | { ok: true, peerId: string }
  | { ok: false, reason: 'unknown_token' | 'wrong_room' }

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
   * Takes a seat for `peerId` in `roomId`, atomically: a room holds two seats at most.
   * A seat taken here is held until `attach`, `release` or `leave`.
   */
  reserve (roomId: string, peerId: string): Promise<ReserveResult>
  /**
   * Gives back a seat whose connection never opened; the room goes when it is empty.
   * @returns whether the room was deleted
   */
  release (roomId: string, peerId: string): Promise<boolean>
  /**
   * Binds a connection to a reserved or resumed seat. Frames queued for the peer are
   * delivered to `sink` in order before anything else. A connection already bound to the
   * seat is replaced (its sink's `replace`). The partner hears `joined` or, after a
   * suspension, `back`.
   * @param connectionId unique per connection; later calls about the seat name it
   */
  attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void>
  /**
   * Hands a frame from `fromPeerId` to the other peer of the room, or queues it.
   * May answer synchronously (an in-process store does), so the hot path stays cheap. A store
   * whose backend does not answer rejects at once, without holding the frame.
   */
  relay (roomId: string, fromPeerId: string, frame: Frame): RelayOutcome | Promise<RelayOutcome>
  /** Drops messages `fromPeerId` queued that are older than `limits.maxAgeMs` at `now`. */
  expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult>
  /**
   * Ends the call: the partner's connection is ended, all queued messages are dropped and the
   * room is deleted. A no-op when the seat is now bound to another connection.
   * @returns whether this call ended the room
   */
  leave (roomId: string, peerId: string, connectionId: string): Promise<boolean>

  /**
   * Gives a connected seat a resume token (`token`, or the one it already has), and says
   * where its partner is, so the peer can be told at once.
   */
  openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant>
  /**
   * Keeps the seat of a dropped session peer for `graceMs`: frames for it are queued and the
   * partner hears `reconnecting`. Returns false when the room is already gone.
   */
  suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean>
  /**
   * Finds the seat a resume token belongs to and, atomically, replaces the token with
   * `nextToken`: a token is good for one resume.
   */
  claim (roomId: string, token: string, nextToken: string): Promise<ClaimResult>
}
