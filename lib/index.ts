export { notify, notify as default, type NotifyDecorator } from './plugin.js'
export type { NotifyOptions, IceServer, IceServersOption, AuthorizeHook, TurnOptions, HandshakeRequest, RoomSizeOption } from './options.js'
export type { NotifyEventMap, NotifyEventName, PeerEvent, PeerLeftReason, RoomEndedReason } from './events.js'
export type { PeerListing, RoomInfo } from './notify-api.js'
export { defaults } from './options.js'
export { turnCredentials } from './ice.js'
export { MemoryStore, memoryStore } from './stores/memory.js'
export type {
  RoomStore, PeerSink, StoreContext, QueueLimits, ReserveResult, RelayOutcome, ExpiryResult,
  ClaimResult, SessionGrant, PresenceState, Frame, SeatInfo, Dismissal, RoomEnd, KickResult, RoomListing, SeatListing
} from './stores/store.js'
export { Failure, type FailureReason } from './protocol.js'
export { CloseCode, Method, Resource, maxRoomSize, type ResourceName } from './wire.js'
export * as errors from './errors.js'
