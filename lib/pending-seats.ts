import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { RoomManager, Seat } from './room-manager.js'

interface Held {
  seat: Seat
  socket: Socket | undefined
  abandon: () => void
}

/**
 * Seats taken in a handshake's `onRequest`, waiting for the upgrade. A seat whose upgrade never
 * comes is given back: the client went away, ws refused the upgrade, or a reply was sent
 * instead (a later hook, an error, an in-process `injectWS` that failed).
 */
export class PendingSeats {
  private readonly held = new WeakMap<IncomingMessage, Held>()

  constructor (private readonly manager: RoomManager) {}

  /** Keeps `seat` for the handshake `request` until `take` or `drop`. */
  hold (request: IncomingMessage, seat: Seat): void {
    // An in-process injected handshake has no socket.
    const socket = request.socket as Socket | undefined
    const entry: Held = { seat, socket, abandon: () => this.drop(request) }
    this.held.set(request, entry)
    if (socket?.destroyed === true) return this.drop(request)
    socket?.once('close', entry.abandon)
  }

  /** The seat of an upgraded handshake, now the connection's to bind. */
  take (request: IncomingMessage): Seat | undefined {
    const entry = this.held.get(request)
    if (entry === undefined) return undefined
    this.held.delete(request)
    entry.socket?.removeListener('close', entry.abandon)
    return entry.seat
  }

  /** Gives back the seat of a handshake that ended without an upgrade (a no-op after `take`). */
  drop (request: IncomingMessage): void {
    const seat = this.take(request)
    if (seat !== undefined) this.manager.release(seat)
  }
}
