import { EventEmitter } from 'node:events'

/** Why a peer's seat is gone (docs/protocol.md#leaving-and-close-codes). */
export type PeerLeftReason =
  /** It closed on purpose (1000, 1001, or no code). */
  | 'hung-up'
  /** Its connection was lost, and it had no session to come back with. */
  | 'dropped'
  /** It did not answer the heartbeat, and had no session. */
  | 'heartbeat-timeout'
  /** The other peer of a two-party room left: the call is over (1000). */
  | 'call-ended'
  /** Closed by the app's `kick`. */
  | 'kicked'
  /** Closed by the app's `closeRoom`. */
  | 'room-closed'
  /** It dropped with a session and did not come back within its grace period. */
  | 'grace-expired'
  /** The server shut down and it had no session to resume elsewhere. */
  | 'shutdown'
  /** The server refused its connection: a frame over the hard limit (1009), flooding (1008), not UTF-8 (1007), too slow to read (4002). */
  | 'refused'

/** Why a room ended. */
export type RoomEndedReason =
  /** A peer left a two-party room, which ends the call for both (the seed's rule). */
  | 'peer-left'
  /** The last peer left (or its handshake never completed). */
  | 'last-peer-left'
  /** The app's `closeRoom`. */
  | 'closed'
  /** A dropped session peer did not come back in time. */
  | 'grace-expired'
  /** The server shut down. */
  | 'shutdown'
  /** The instance a peer was connected to died; another instance ended the call. */
  | 'instance-lost'

/** What every event about a peer carries. */
export interface PeerEvent {
  roomId: string
  peerId: string
  /** What `authorize` returned for the peer (undefined when it returned `true`). */
  identity: unknown
  /** When it happened (ms since epoch). */
  at: number
}

/** The events of `fastify.notify`, by name. */
export interface NotifyEventMap {
  'room:created': { roomId: string, at: number }
  'room:ended': { roomId: string, at: number, createdAt: number, durationMs: number, reason: RoomEndedReason }
  'peer:joined': PeerEvent
  'peer:left': PeerEvent & { reason: PeerLeftReason, closeCode: number }
  'peer:reconnecting': PeerEvent
  'peer:resumed': PeerEvent
  'message:relayed': PeerEvent & { bytes: number, outcome: 'delivered' | 'queued' }
  'message:refused': PeerEvent & { code: string }
  'handshake:refused': { roomId: string | undefined, statusCode: number, code: string | undefined, at: number }
}
export type NotifyEventName = keyof NotifyEventMap

/** The identity of a seat as events give it: parsed from the JSON text the store keeps. */
export function identityOf (text: string | undefined): unknown {
  return text === undefined ? undefined : JSON.parse(text)
}

/** What the emitter does with a listener that throws or rejects. */
export type ListenerFailure = (err: unknown, event: NotifyEventName) => void

/**
 * The events of `fastify.notify` (typed for the app by NotifyDecorator), an EventEmitter. A
 * listener that throws (or an async one that rejects) is logged and changes nothing else: the
 * relay, the room and the other listeners go on. Async listeners are not awaited.
 */
export class NotifyEvents extends EventEmitter {
  constructor (private readonly failed: ListenerFailure) {
    super()
  }

  /** Whether anyone listens to `message:relayed`, the one event of the hot path: nothing is built for it otherwise. */
  get relayWatched (): boolean {
    return this.listenerCount('message:relayed') > 0
  }

  /**
   * Calls every listener of `event`, each on its own: one that throws does not stop the others.
   * @returns whether there was any
   */
  fire<K extends NotifyEventName>(event: K, payload: NotifyEventMap[K]): boolean {
    const listeners = this.rawListeners(event) as Array<(payload: NotifyEventMap[K]) => unknown>
    if (listeners.length === 0) return false
    for (const listener of listeners) {
      try {
        const result = listener.call(this, payload)
        if (result instanceof Promise) result.catch(err => this.failed(err, event))
      } catch (err) {
        this.failed(err, event)
      }
    }
    return true
  }
}
