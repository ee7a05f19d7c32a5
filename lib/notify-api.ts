import type { EventEmitter } from 'node:events'
import { identityOf, NotifyEvents, type ListenerFailure, type NotifyEventMap, type NotifyEventName } from './events.js'
import type { RoomListing } from './stores/store.js'

/** What the API asks of the room manager (kept narrow: its declarations stay free of ws types). */
export interface RoomControl {
  stats (): { rooms: number, peers: number }
  room (roomId: string): Promise<RoomListing | undefined>
  rooms (): AsyncIterable<RoomListing>
  kick (roomId: string, peerId: string, reason: string): Promise<boolean>
  closeRoom (roomId: string, reason: string): Promise<boolean>
  send (roomId: string, data: unknown, to?: string): Promise<boolean>
}

/** A peer as `room()` and `rooms()` list it. */
export interface PeerListing {
  peerId: string
  /** What `authorize` returned for it (undefined when it returned `true`). */
  identity: unknown
  /** `joining`: its handshake is under way; `connected`; `away`: dropped, within its grace period. */
  state: 'joining' | 'connected' | 'away'
  /** Since when it is in that state (ms since epoch). */
  since: number
}

/** A room as `room()` and `rooms()` list it. */
export interface RoomInfo {
  roomId: string
  /** Its seats: 2, or the size of a group room. */
  size: number
  createdAt: number
  peers: PeerListing[]
}

/**
 * `fastify.notify`: what the app sees of its calls and does to them, on one instance or on all
 * that share a store. Its events (an EventEmitter with typed `on`, `once`, `off`) are listed in
 * NotifyEventMap. (An interface, not the class: the ES module and CommonJS declarations of the
 * package then describe one and the same type.)
 */
export interface NotifyDecorator extends EventEmitter {
  on<K extends NotifyEventName>(event: K, listener: (event: NotifyEventMap[K]) => unknown): this
  on (event: string | symbol, listener: (...args: any[]) => void): this
  once<K extends NotifyEventName>(event: K, listener: (event: NotifyEventMap[K]) => unknown): this
  once (event: string | symbol, listener: (...args: any[]) => void): this
  off<K extends NotifyEventName>(event: K, listener: (event: NotifyEventMap[K]) => unknown): this
  off (event: string | symbol, listener: (...args: any[]) => void): this
  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number }
  /** Whether the server takes joins now (its store answers, and it is not closing). */
  available (): boolean
  /** A room and its peers, wherever they are connected; undefined when there is no such room. */
  room (roomId: string): Promise<RoomInfo | undefined>
  /** Every room, across all instances sharing the store, fetched a few at a time. */
  rooms (): AsyncIterable<RoomInfo>
  /** Closes a peer with 4003 and takes its seat back (no resume). @returns whether the room had that peer */
  kick (roomId: string, peerId: string, reason?: string): Promise<boolean>
  /** Closes every peer of a room with 4004 and deletes it. @returns whether there was such a room */
  closeRoom (roomId: string, reason?: string): Promise<boolean>
  /** Sends `data` to a room's connected peers (or to `to`) as an APP frame. @returns whether the room (and the peer) was found */
  send (roomId: string, data: unknown, options?: { to?: string }): Promise<boolean>
}

/** The NotifyDecorator the plugin makes. */
export class NotifyApi extends NotifyEvents implements NotifyDecorator {
  /**
   * @param manager the room manager, set once the plugin started it
   * @param available whether the server takes joins now
   */
  constructor (failed: ListenerFailure, private readonly manager: () => RoomControl, readonly available: () => boolean) {
    super(failed)
  }

  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number } {
    return this.manager().stats()
  }

  /** A room and its peers, wherever they are connected; undefined when there is no such room. */
  async room (roomId: string): Promise<RoomInfo | undefined> {
    const room = await this.manager().room(roomId)
    return room === undefined ? undefined : roomInfo(room)
  }

  /**
   * Every room, across all instances sharing the store, fetched a few at a time:
   * `for await (const room of app.notify.rooms()) ...`. A room created or ended meanwhile may
   * or may not be listed.
   */
  async * rooms (): AsyncIterable<RoomInfo> {
    for await (const room of this.manager().rooms()) yield roomInfo(room)
  }

  /**
   * Closes a peer's connection with 4003 (`reason` in the close frame) and takes its seat back:
   * it cannot resume. In a two-party room its partner is then closed with 1000, as after any
   * leave; in a group room the others hear it left.
   * @returns whether the room had that peer
   */
  async kick (roomId: string, peerId: string, reason = 'removed from the room'): Promise<boolean> {
    return await this.manager().kick(roomId, peerId, reason)
  }

  /**
   * Closes every peer of a room with 4004 (`reason` in the close frame) and deletes the room.
   * @returns whether there was such a room
   */
  async closeRoom (roomId: string, reason = 'the room was closed'): Promise<boolean> {
    return await this.manager().closeRoom(roomId, reason)
  }

  /**
   * Sends `data` (any JSON value) to the connected peers of a room, or to one (`to`), as
   * `{"method":"APP","data":...}`: clients of the original protocol ignore it, the browser
   * client dispatches it as a `message` event. Peers that are away do not get it.
   * @returns whether the room (and the peer) was found
   */
  async send (roomId: string, data: unknown, options: { to?: string } = {}): Promise<boolean> {
    return await this.manager().send(roomId, data, options.to)
  }
}

function roomInfo (room: RoomListing): RoomInfo {
  return {
    roomId: room.roomId,
    size: room.size,
    createdAt: room.createdAt,
    peers: room.seats.map(seat => ({ peerId: seat.peerId, identity: identityOf(seat.identity), state: seat.state, since: seat.since }))
  }
}
