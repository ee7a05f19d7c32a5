/**
 * The wire vocabulary shared by the server and the browser client: methods, resources, presence
 * states and close codes (docs/protocol.md). It imports nothing, so the browser client can load
 * it as it is.
 */

/** The `method` of a frame. */
export const Method = {
  /** Data for the other peer: `{"method":"NOTIFY","data":...}`. */
  Notify: 'NOTIFY',
  /** A request to the server: `{"method":"GET","resource":...,"msg_id":...}`. */
  Get: 'GET',
  /** The server telling a session peer what its partner is doing. */
  Presence: 'PRESENCE'
} as const

/** The resources a GET frame may ask for. */
export const Resource = {
  PeerConnection: '/peerconnection',
  Session: '/session'
} as const
export type ResourceName = typeof Resource[keyof typeof Resource]

/** What the partner of a session peer is doing, as PRESENCE frames say. */
export type PresenceState = 'joined' | 'reconnecting' | 'back'
export const presenceStates: readonly PresenceState[] = ['joined', 'reconnecting', 'back']

/** Close codes the server sends (docs/protocol.md#leaving-and-close-codes). */
export const CloseCode = {
  /** The other peer left: the call is over. */
  CallEnded: 1000,
  /** The server is shutting down (or restarting): a session peer may resume elsewhere. */
  GoingAway: 1001,
  /** Sustained flooding over the rate limit. */
  PolicyViolation: 1008,
  /** A frame larger than the hard frame limit. */
  TooBig: 1009,
  /** The server failed to set up the connection. */
  InternalError: 1011,
  /** The same session resumed on another connection. */
  Replaced: 4001,
  /** The peer did not read what the server sent it: its outgoing buffer went over its limit. */
  TooSlow: 4002
} as const

/**
 * Close codes after which a session peer tries to come back: the connection was lost (1006,
 * which no server sends), or the server went away or restarts, leaving the seat for another
 * instance (1001, 1012, 1013).
 */
export const resumableCloseCodes: readonly number[] = [CloseCode.GoingAway, 1006, 1012, 1013]
