import WebSocket from 'ws'
import { presenceFrame } from './protocol.js'
import type { RateLimiter } from './rate-limiter.js'
import type { Frame, PeerSink, PresenceState } from './stores/store.js'

/** Close codes the server sends. */
export const CloseCode = {
  /** The other peer left: the call is over. */
  CallEnded: 1000,
  /** The server is shutting down. */
  GoingAway: 1001,
  /** Sustained flooding over the rate limit. */
  PolicyViolation: 1008,
  /** A frame larger than maxPayload. */
  TooBig: 1009,
  /** The server failed to set up the connection. */
  InternalError: 1011,
  /** The same session resumed on another connection. */
  Replaced: 4001
} as const

// ws sends a Buffer as a binary frame unless told otherwise; relayed NOTIFY bytes are text.
const asText = { binary: false }

/**
 * One connection of a peer to a room, as this process sees it. The store reaches it through
 * the PeerSink methods; the room manager drives the rest.
 */
export class Peer implements PeerSink {
  /** Answered the last ping (heartbeat). */
  alive = true
  /** The resume token, once the peer asked for a session. */
  token: string | undefined = undefined
  /** Why this connection is going away, once it is; the manager reads it at close. */
  ending: 'partner_left' | 'replaced' | 'shutdown' | 'refused' | undefined = undefined
  /** Frames received while the store binds the connection; undefined once bound. */
  backlog: Array<[Buffer, boolean]> | undefined = []
  /** Pending expiry check of frames this peer queued for an absent partner. */
  expiryTimer: NodeJS.Timeout | undefined = undefined

  /**
   * @param socket the WebSocket
   * @param roomId the room it is in
   * @param peerId the seat's id, stable across resumes
   * @param connectionId this connection's id, new at every resume
   * @param limiter its rate limiter
   * @param handshake what the glue kept of the handshake for later answers (or undefined)
   */
  constructor (
    readonly socket: WebSocket,
    readonly roomId: string,
    readonly peerId: string,
    readonly connectionId: string,
    readonly limiter: RateLimiter,
    readonly handshake: unknown
  ) {}

  /** Sends a text frame, if the connection is still open. */
  send (text: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text)
  }

  /** Closes the connection with `code`, remembering why for the close handler. */
  close (code: number, reason: string, ending?: Peer['ending']): void {
    if (ending !== undefined && this.ending === undefined) this.ending = ending
    this.socket.close(code, reason)
  }

  deliver (frame: Frame): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(frame, asText)
  }

  end (): void {
    this.close(CloseCode.CallEnded, 'the other peer left', 'partner_left')
  }

  presence (state: PresenceState): void {
    if (this.token !== undefined) this.send(presenceFrame(state))
  }

  replace (): void {
    this.close(CloseCode.Replaced, 'replaced', 'replaced')
  }
}
