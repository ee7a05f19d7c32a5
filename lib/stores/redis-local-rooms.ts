import type { RoomMeta, StoredSeat } from './redis-scripts.js'
import type { PeerSink, PresenceState } from './store.js'

/** A connection of this process, as the Redis store knows it. */
export interface LocalConnection {
  roomId: string
  peerId: string
  connectionId: string
  sink: PeerSink
  /** Fetches of queued frames under way; messages wait in `held` until they are done. */
  fetching: number
  held: Buffer[]
  /**
   * Whether its frames may go straight to the other peers' connections when they are all in
   * this process: `direct` while none of its frames can still be on its way through Redis (a
   * new connection, or after a barrier); `redis` once one went that way; `switching`: waiting
   * for a barrier sent through Redis behind its last frame, so that no direct frame overtakes it.
   */
  mode: 'redis' | 'switching' | 'direct'
  /** Barriers sent: only the last one ends a switch (an earlier one given up for lost may still come). */
  barriers: number
  /** Frames relayed while switching, relayed once the barrier is back (or given up). */
  waiting: Array<() => void>
  /** The room and the seat as Redis last gave them: what is written back should Redis lose them. */
  room?: RoomMeta
  seat?: StoredSeat
}

/** Where another seat of a room is, as this process last heard. */
type Whereabouts = 'here' | 'there' | 'away'

/**
 * What this process knows of the rooms it has connections in: which seats are connected here,
 * connected elsewhere, or away. It is learnt when a local connection is bound (the room's other
 * seats) and kept up by the PRESENCE messages every bound seat is sent. It lets a frame whose
 * recipients are all connected to this process go to them directly, without Redis: a room whose
 * peers are co-located costs no Redis traffic per frame.
 *
 * It may lag behind Redis by a message: a peer that just joined elsewhere is not known here
 * until its `joined` reaches this process. A frame sent meanwhile reaches the peers known, as
 * if it had been sent just before the other joined.
 */
export class LocalRooms {
  private readonly rooms = new Map<string, Map<string, { where: Whereabouts, connection?: LocalConnection }>>()

  /**
   * A local connection is bound to its seat.
   * @param others the room's other seats, with the instance each connected one is bound to
   * @param isLocal whether a peer of the room has a connection in this process
   */
  bound (connection: LocalConnection, others: Array<{ peerId: string, state: string, instance?: string }>,
    isLocal: (peerId: string) => LocalConnection | undefined): void {
    const seats = new Map<string, { where: Whereabouts, connection?: LocalConnection }>()
    for (const other of others) {
      if (other.state === 'away') seats.set(other.peerId, { where: 'away' })
      if (other.state !== 'connected') continue
      const local = isLocal(other.peerId)
      seats.set(other.peerId, local === undefined ? { where: 'there' } : { where: 'here', connection: local })
    }
    seats.set(connection.peerId, { where: 'here', connection })
    this.rooms.set(connection.roomId, seats)
  }

  /** Another seat's presence changed, as a PRESENCE message says. */
  presence (roomId: string, peerId: string, state: PresenceState, local: LocalConnection | undefined): void {
    const seats = this.rooms.get(roomId)
    if (seats === undefined) return
    if (state === 'left') seats.delete(peerId)
    else if (state === 'reconnecting') seats.set(peerId, { where: 'away' })
    else if (local !== undefined) seats.set(peerId, { where: 'here', connection: local })
    else if (seats.get(peerId)?.where !== 'here') seats.set(peerId, { where: 'there' })
  }

  /** A local connection no longer holds its seat: it left, dropped, or was replaced elsewhere. */
  unbound (connection: LocalConnection, now: 'gone' | 'away' | 'there'): void {
    const seats = this.rooms.get(connection.roomId)
    if (seats === undefined || seats.get(connection.peerId)?.connection !== connection) return
    if (now === 'gone') seats.delete(connection.peerId)
    else seats.set(connection.peerId, { where: now })
    for (const seat of seats.values()) if (seat.where === 'here') return
    this.rooms.delete(connection.roomId)
  }

  /**
   * The rooms every seat of which this process knows of is connected here, with those
   * connections. (A peer still joining elsewhere is not known.)
   */
  coLocated (): Array<[roomId: string, connections: LocalConnection[]]> {
    const rooms: Array<[string, LocalConnection[]]> = []
    for (const [roomId, seats] of this.rooms) {
      const connections = []
      for (const seat of seats.values()) if (seat.where === 'here') connections.push(seat.connection!)
      if (connections.length === seats.size) rooms.push([roomId, connections])
    }
    return rooms
  }

  /** The room ended. */
  ended (roomId: string): void {
    this.rooms.delete(roomId)
  }

  /**
   * The local connections a frame from `from` goes to, when every recipient is connected here
   * (`to`, or every other seat known): otherwise undefined, and the frame goes through Redis.
   */
  recipients (roomId: string, from: string, to: string | undefined): LocalConnection[] | undefined {
    const seats = this.rooms.get(roomId)
    if (seats === undefined) return undefined
    if (to !== undefined) {
      const seat = seats.get(to)
      return seat?.where === 'here' && to !== from ? [seat.connection!] : undefined
    }
    const recipients: LocalConnection[] = []
    for (const [peerId, seat] of seats) {
      if (peerId === from) continue
      if (seat.where !== 'here') return undefined
      recipients.push(seat.connection!)
    }
    return recipients.length === 0 ? undefined : recipients
  }
}
