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
  /** The server telling a peer what another peer of its room is doing. */
  Presence: 'PRESENCE',
  /** The server telling a peer of a group room who it is and who is there, when it joins. */
  Room: 'ROOM',
  /** A message from the app on the server (`fastify.notify.send`). */
  App: 'APP'
} as const

/** The resources a GET frame may ask for. */
export const Resource = {
  PeerConnection: '/peerconnection',
  Session: '/session'
} as const
export type ResourceName = typeof Resource[keyof typeof Resource]

/** What another peer of the room is doing, as PRESENCE frames say. */
export type PresenceState = 'joined' | 'reconnecting' | 'back' | 'left'
export const presenceStates: readonly PresenceState[] = ['joined', 'reconnecting', 'back', 'left']

/** Peers in a room: two by default (the original protocol), up to this many in a group room. */
export const maxRoomSize = 12

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
  TooSlow: 4002,
  /** The app removed this peer from its room (`fastify.notify.kick`); it cannot resume. */
  Kicked: 4003,
  /** The app closed the room (`fastify.notify.closeRoom`). */
  RoomClosed: 4004
} as const

/**
 * Close codes after which a session peer tries to come back: the connection was lost (1006,
 * which no server sends), or the server went away or restarts, leaving the seat for another
 * instance (1001, 1012, 1013).
 */
export const resumableCloseCodes: readonly number[] = [CloseCode.GoingAway, 1006, 1012, 1013]
