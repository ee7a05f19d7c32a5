import { CapacityError } from './errors.js'

/** Caps on what one process holds; undefined for none. */
export interface SeatCaps {
  maxRooms?: number
  maxPeers?: number
}

/**
 * The seats this process holds, per room and in all, counted from the moment a handshake asks
 * for one (before any await), so that racing handshakes see each other against the caps.
 */
export class SeatLedger {
  private readonly byRoom = new Map<string, number>()
  private total = 0

  constructor (private readonly caps: SeatCaps) {}

  /**
   * Counts a seat in `roomId`, if the caps allow it.
   * @throws CapacityError when a cap is reached
   */
  take (roomId: string): void {
    const { maxRooms, maxPeers } = this.caps
    if (maxPeers !== undefined && this.total >= maxPeers) throw new CapacityError('maxPeers reached')
    if (maxRooms !== undefined && !this.byRoom.has(roomId) && this.byRoom.size >= maxRooms) {
      throw new CapacityError('maxRooms reached')
    }
    this.count(roomId, 1)
  }

  /** Gives back a seat counted by `take`. */
  give (roomId: string): void {
    this.count(roomId, -1)
  }

  /** Rooms and peers with a seat in this process. */
  stats (): { rooms: number, peers: number } {
    return { rooms: this.byRoom.size, peers: this.total }
  }

  private count (roomId: string, delta: 1 | -1): void {
    this.total += delta
    const n = (this.byRoom.get(roomId) ?? 0) + delta
    if (n > 0) this.byRoom.set(roomId, n)
    else this.byRoom.delete(roomId)
  }
}
