export { notify, notify as default, type NotifyDecorator } from './plugin.js'
export type { NotifyOptions, IceServer, IceServersOption, AuthorizeHook, TurnOptions, HandshakeRequest } from './options.js'
export { defaults } from './options.js'
export { turnCredentials } from './ice.js'
export { MemoryStore, memoryStore } from './stores/memory.js'
export type {
  RoomStore, PeerSink, StoreContext, QueueLimits, ReserveResult, RelayOutcome, ExpiryResult,
  ClaimResult, SessionGrant, PresenceState, Frame
} from './stores/store.js'
export { Failure, type FailureReason } from './protocol.js'
export { CloseCode, Method, Resource, type ResourceName } from './wire.js'
export * as errors from './errors.js'
