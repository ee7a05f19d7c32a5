import { identityOf, NotifyEvents, type ListenerFailure } from './events.js'
import type { RoomManager } from './room-manager.js'
import type { RoomListing } from './stores/store.js'

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
 * NotifyEventMap.
 */
export class NotifyApi extends NotifyEvents {
  /**
   * @param manager the room manager, set once the plugin started it
   * @param available whether the server takes joins now
   */
  constructor (failed: ListenerFailure, private readonly manager: () => RoomManager, readonly available: () => boolean) {
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
