import type {
  ClaimResult, ExpiryResult, Frame, KickResult, LeaveResult, PeerSink, QueueLimits, RelayOutcome, ReserveResult,
  RoomEnd, RoomListing, RoomStore, SeatInfo, SessionGrant, StoreContext
} from './store.js'

interface Seat {
  readonly peerId: string
  readonly identity: string | undefined
  /** The bound connection; undefined while joining or away. */
  connectionId: string | undefined
  sink: PeerSink | undefined
  /** Set once a connection was bound, so a later bind is a comeback, not a join. */
  everBound: boolean
  token: string | undefined
  /** When the seat entered its state (joining, connected, away). */
  since: number
}

interface QueuedFrame {
  from: string
  /** Whom it waits for: a peer that is away or joining, or (undefined) the next peer to join. */
  to: string | undefined
  frame: Frame
  bytes: number
  at: number
}

interface Room {
  readonly size: number
  readonly createdAt: number
  seats: Seat[]
  queue: QueuedFrame[]
  queuedBytes: number
}

/**
 * The default store: rooms in this process's memory. Every operation completes synchronously
 * (the promises are already settled), which is what makes its seat taking atomic.
 */
export class MemoryStore implements RoomStore {
  readonly available = true
  private readonly byId = new Map<string, Room>()
  private readonly tokens = new Map<string, { roomId: string, peerId: string }>()
  private limits: QueueLimits = { maxMessages: Infinity, maxBytes: Infinity, maxAgeMs: Infinity }
  private totalQueuedBytes = 0

  async start (context: StoreContext): Promise<void> {
    this.limits = context.limits
  }

  async close (): Promise<void> {
    this.byId.clear()
    this.tokens.clear()
    this.totalQueuedBytes = 0
  }

  async reserve (roomId: string, seat: SeatInfo, size: number, now = Date.now()): Promise<ReserveResult> {
    const room = this.byId.get(roomId)
    const taken: Seat = {
      peerId: seat.peerId, identity: seat.identity, connectionId: undefined, sink: undefined, everBound: false, token: undefined, since: now
    }
    if (room === undefined) {
      this.byId.set(roomId, { size, createdAt: now, seats: [taken], queue: [], queuedBytes: 0 })
      return 'created'
    }
    if (room.seats.length >= room.size) return 'full'
    room.seats.push(taken)
    return 'joined'
  }

  async release (roomId: string, peerId: string): Promise<RoomEnd | undefined> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined || seat.connectionId !== undefined) return undefined
    room.seats.splice(room.seats.indexOf(seat), 1)
    this.dropQueued(room, item => item.to === peerId)
    if (room.seats.length > 0) return undefined
    return this.remove(roomId, room)
  }

  async attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined) {
      // The call ended between the handshake and now (the partner left): end this one too.
      sink.end()
      return
    }
    const previous = seat.sink
    const comeback = seat.everBound
    seat.connectionId = connectionId
    seat.sink = sink
    seat.everBound = true
    if (previous === undefined) seat.since = Date.now()
    previous?.replace()
    sink.welcome(room.size, room.seats.filter(s => s !== seat && s.everBound).map(info))
    this.drain(room, peerId, sink)
    if (previous !== undefined) return
    for (const other of room.seats) if (other !== seat) other.sink?.presence(comeback ? 'back' : 'joined', info(seat))
  }

  relay (roomId: string, fromPeerId: string, frame: Frame, to?: string): RelayOutcome {
    const room = this.byId.get(roomId)
    if (room === undefined) return 'gone'
    const seats = room.seats
    // A sender without a seat is a connection whose call already ended; the room may since
    // have been taken by others under the same id.
    if (!seats.some(s => s.peerId === fromPeerId)) return 'gone'
    if (to !== undefined) {
      const target = seats.find(s => s.peerId === to && s.peerId !== fromPeerId)
      if (target === undefined) return 'no_peer'
      if (target.sink !== undefined) {
        target.sink.deliver(frame)
        return 'delivered'
      }
      return this.enqueue(room, fromPeerId, [to], frame)
    }
    // Who must wait for it: each peer that is away, by name, and (once) the next peer to join,
    // which may be one whose handshake is under way, or whoever comes instead if it fails.
    let waiting: Array<string | undefined> | undefined
    let connected = 0
    let joining = false
    for (const seat of seats) {
      if (seat.peerId === fromPeerId) continue
      if (seat.sink !== undefined) connected++
      else if (seat.everBound) (waiting ??= []).push(seat.peerId)
      else joining = true
    }
    if (joining || (connected === 0 && waiting === undefined)) (waiting ??= []).push(undefined)
    if (waiting !== undefined && !this.fits(room, waiting.length, frameBytes(frame))) return 'queue_full'
    if (connected > 0) for (const seat of seats) if (seat.peerId !== fromPeerId) seat.sink?.deliver(frame)
    if (waiting === undefined) return 'delivered'
    this.enqueue(room, fromPeerId, waiting, frame)
    return connected > 0 ? 'delivered' : 'queued'
  }

  async expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult> {
    const room = this.byId.get(roomId)
    if (room === undefined) return { dropped: 0, nextExpiryAt: null }
    const oldest = now - this.limits.maxAgeMs
    let nextExpiryAt: number | null = null
    const dropped = this.dropQueued(room, item => {
      if (item.from !== fromPeerId) return false
      if (item.at > oldest) {
        nextExpiryAt ??= item.at + this.limits.maxAgeMs
        return false
      }
      return true
    })
    return { dropped, nextExpiryAt }
  }

  async leave (roomId: string, peerId: string, connectionId: string): Promise<LeaveResult> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined || seat.connectionId !== connectionId) return { left: false }
    return { left: true, ended: this.unseat(roomId, room, seat) }
  }

  async openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined) return { token, others: [] }
    if (seat.token === undefined) {
      seat.token = token
      this.tokens.set(token, { roomId, peerId })
    }
    return { token: seat.token, others: room.seats.filter(s => s !== seat).map(s => ({ ...info(s), state: stateOf(s) })) }
  }

  async suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined || seat.connectionId !== connectionId) return false
    seat.sink = undefined
    seat.since = Date.now()
    for (const s of room.seats) if (s !== seat) s.sink?.presence('reconnecting', info(seat))
    return true
  }

  async claim (roomId: string, token: string, nextToken: string, identity: string | undefined): Promise<ClaimResult> {
    const owner = this.tokens.get(token)
    if (owner === undefined) return { ok: false, reason: 'unknown_token' }
    if (owner.roomId !== roomId) return { ok: false, reason: 'wrong_room' }
    const seat = this.byId.get(roomId)?.seats.find(s => s.peerId === owner.peerId)
    if (seat !== undefined && seat.identity !== identity) return { ok: false, reason: 'wrong_identity' }
    this.tokens.delete(token)
    if (seat === undefined) return { ok: false, reason: 'unknown_token' }
    seat.token = nextToken
    this.tokens.set(nextToken, owner)
    return { ok: true, seat: info(seat) }
  }

  async kick (roomId: string, peerId: string, reason: string): Promise<KickResult> {
    const room = this.byId.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined) return { found: false }
    if (seat.token !== undefined) this.tokens.delete(seat.token)
    seat.token = undefined
    if (seat.sink !== undefined) {
      seat.sink.dismiss('kicked', reason)
      return { found: true, connected: true }
    }
    return { found: true, connected: false, seat: info(seat), ended: this.unseat(roomId, room, seat) }
  }

  async closeRoom (roomId: string, reason: string): Promise<RoomEnd | undefined> {
    const room = this.byId.get(roomId)
    if (room === undefined) return undefined
    const end = this.remove(roomId, room)
    for (const seat of room.seats) seat.sink?.dismiss('room-closed', reason)
    return end
  }

  async send (roomId: string, frame: Frame, to?: string): Promise<boolean> {
    const room = this.byId.get(roomId)
    if (room === undefined) return false
    if (to !== undefined) {
      const target = room.seats.find(s => s.peerId === to)
      target?.sink?.deliver(frame)
      return target !== undefined
    }
    for (const seat of room.seats) seat.sink?.deliver(frame)
    return true
  }

  async room (roomId: string): Promise<RoomListing | undefined> {
    const room = this.byId.get(roomId)
    return room === undefined ? undefined : listing(roomId, room)
  }

  async * rooms (): AsyncIterable<RoomListing> {
    for (const [roomId, room] of this.byId) yield listing(roomId, room)
  }

  /** Rooms, seats and queued bytes held now (tests and soak checks). */
  size (): { rooms: number, seats: number, queuedBytes: number, tokens: number } {
    let seats = 0
    let queuedBytes = 0
    for (const room of this.byId.values()) {
      seats += room.seats.length
      queuedBytes += room.queuedBytes
    }
    return { rooms: this.byId.size, seats, queuedBytes, tokens: this.tokens.size }
  }

  // The seat goes. In a two-party room that ends the call for the other peer (the original
  // protocol); in a group room the others hear `left`, and the room goes with its last seat.
  private unseat (roomId: string, room: Room, seat: Seat): RoomEnd | undefined {
    if (room.size === 2) {
      const end = this.remove(roomId, room)
      for (const s of room.seats) if (s !== seat) s.sink?.end()
      end.unbound = end.unbound.filter(s => s.peerId !== seat.peerId)
      return end
    }
    if (seat.token !== undefined) this.tokens.delete(seat.token)
    room.seats.splice(room.seats.indexOf(seat), 1)
    this.dropQueued(room, item => item.from === seat.peerId || item.to === seat.peerId)
    if (room.seats.length === 0) return this.remove(roomId, room)
    for (const s of room.seats) s.sink?.presence('left', info(seat))
    return undefined
  }

  private remove (roomId: string, room: Room): RoomEnd {
    this.byId.delete(roomId)
    this.count(room, -room.queuedBytes)
    for (const seat of room.seats) if (seat.token !== undefined) this.tokens.delete(seat.token)
    return { createdAt: room.createdAt, unbound: room.seats.filter(s => s.sink === undefined && s.everBound).map(info) }
  }

  private fits (room: Room, entries: number, bytes: number): boolean {
    const { maxMessages, maxBytes, maxTotalBytes = Infinity } = this.limits
    return room.queue.length + entries <= maxMessages && room.queuedBytes + entries * bytes <= maxBytes &&
      this.totalQueuedBytes + entries * bytes <= maxTotalBytes
  }

  private enqueue (room: Room, from: string, recipients: Array<string | undefined>, frame: Frame): RelayOutcome {
    const bytes = frameBytes(frame)
    if (!this.fits(room, recipients.length, bytes)) return 'queue_full'
    // A received Buffer may be a slice of a larger socket read; a copy keeps the queue's memory
    // what its byte count says.
    const kept = typeof frame === 'string' ? frame : Buffer.from(frame)
    const at = Date.now()
    for (const to of recipients) {
      room.queue.push({ from, to, frame: kept, bytes, at })
      this.count(room, bytes)
    }
    return 'queued'
  }

  // Delivers, in order, what waits for this peer: frames addressed to it, and frames waiting
  // for the next peer to join (from the others).
  private drain (room: Room, peerId: string, sink: PeerSink): void {
    if (room.queue.length === 0) return
    this.dropQueued(room, item => {
      if (item.to !== peerId && (item.to !== undefined || item.from === peerId)) return false
      sink.deliver(item.frame)
      return true
    })
  }

  /** Removes the queued frames `drop` says yes to, in order. @returns how many */
  private dropQueued (room: Room, drop: (item: QueuedFrame) => boolean): number {
    const kept: QueuedFrame[] = []
    for (const item of room.queue) {
      if (drop(item)) this.count(room, -item.bytes)
      else kept.push(item)
    }
    const dropped = room.queue.length - kept.length
    room.queue = kept
    return dropped
  }

  private count (room: Room, bytes: number): void {
    room.queuedBytes += bytes
    this.totalQueuedBytes += bytes
  }
}

function info (seat: Seat): SeatInfo {
  return seat.identity === undefined ? { peerId: seat.peerId } : { peerId: seat.peerId, identity: seat.identity }
}

function stateOf (seat: Seat): 'joining' | 'connected' | 'away' {
  return seat.sink !== undefined ? 'connected' : seat.everBound ? 'away' : 'joining'
}

function listing (roomId: string, room: Room): RoomListing {
  return {
    roomId,
    size: room.size,
    createdAt: room.createdAt,
    seats: room.seats.map(s => ({ ...info(s), state: stateOf(s), since: s.since }))
  }
}

function frameBytes (frame: Frame): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length
}

/** Creates the in-process room store (the default). */
export function memoryStore (): MemoryStore {
  return new MemoryStore()
}
