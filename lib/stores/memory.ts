import type {
  ClaimResult, ExpiryResult, Frame, PeerSink, QueueLimits, RelayOutcome, ReserveResult,
  RoomStore, SessionGrant, StoreContext
} from './store.js'

interface Seat {
  peerId: string
  /** The bound connection; undefined while reserved or suspended. */
  connectionId: string | undefined
  sink: PeerSink | undefined
  /** Set once a connection was bound, so a later bind is a comeback, not a join. */
  everBound: boolean
  token: string | undefined
}

interface QueuedFrame {
  from: string
  frame: Frame
  bytes: number
  at: number
}

interface Room {
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
  private readonly rooms = new Map<string, Room>()
  private readonly tokens = new Map<string, { roomId: string, peerId: string }>()
  private limits: QueueLimits = { maxMessages: Infinity, maxBytes: Infinity, maxAgeMs: Infinity }
  private totalQueuedBytes = 0

  async start (context: StoreContext): Promise<void> {
    this.limits = context.limits
  }

  async close (): Promise<void> {
    this.rooms.clear()
    this.tokens.clear()
    this.totalQueuedBytes = 0
  }

  async reserve (roomId: string, peerId: string): Promise<ReserveResult> {
    const room = this.rooms.get(roomId)
    const seat: Seat = { peerId, connectionId: undefined, sink: undefined, everBound: false, token: undefined }
    if (room === undefined) {
      this.rooms.set(roomId, { seats: [seat], queue: [], queuedBytes: 0 })
      return 'created'
    }
    if (room.seats.length >= 2) return 'full'
    room.seats.push(seat)
    return 'joined'
  }

  async release (roomId: string, peerId: string): Promise<boolean> {
    const room = this.rooms.get(roomId)
    if (room === undefined) return false
    const seat = room.seats.find(s => s.peerId === peerId)
    if (seat === undefined || seat.connectionId !== undefined) return false
    room.seats.splice(room.seats.indexOf(seat), 1)
    if (room.seats.length > 0) return false
    this.rooms.delete(roomId)
    return true
  }

  async attach (roomId: string, peerId: string, connectionId: string, sink: PeerSink): Promise<void> {
    const room = this.rooms.get(roomId)
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
    previous?.replace()
    this.drain(room, peerId, sink)
    const partner = room.seats.find(s => s !== seat)
    if (previous === undefined) partner?.sink?.presence(comeback ? 'back' : 'joined')
  }

  relay (roomId: string, fromPeerId: string, frame: Frame): RelayOutcome {
    const room = this.rooms.get(roomId)
    if (room === undefined) return 'gone'
    const seats = room.seats
    // A sender without a seat is a connection whose call already ended; the room may since
    // have been taken by a new pair under the same id.
    let partner: Seat | undefined
    if (seats[0].peerId === fromPeerId) partner = seats[1]
    else if (seats[1]?.peerId === fromPeerId) partner = seats[0]
    else return 'gone'
    if (partner?.sink !== undefined) {
      partner.sink.deliver(frame)
      return 'delivered'
    }
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length
    const { maxMessages, maxBytes, maxTotalBytes = Infinity } = this.limits
    if (room.queue.length >= maxMessages || room.queuedBytes + bytes > maxBytes ||
        this.totalQueuedBytes + bytes > maxTotalBytes) {
      return 'queue_full'
    }
    // A received Buffer may be a slice of a larger socket read; a copy keeps the queue's memory
    // what its byte count says.
    room.queue.push({ from: fromPeerId, frame: typeof frame === 'string' ? frame : Buffer.from(frame), bytes, at: Date.now() })
    this.count(room, bytes)
    return 'queued'
  }

  async expire (roomId: string, fromPeerId: string, now: number): Promise<ExpiryResult> {
    const room = this.rooms.get(roomId)
    if (room === undefined) return { dropped: 0, nextExpiryAt: null }
    const oldest = now - this.limits.maxAgeMs
    const kept: QueuedFrame[] = []
    let nextExpiryAt: number | null = null
    for (const item of room.queue) {
      if (item.from !== fromPeerId) {
        kept.push(item)
      } else if (item.at > oldest) {
        kept.push(item)
        nextExpiryAt ??= item.at + this.limits.maxAgeMs
      } else {
        this.count(room, -item.bytes)
      }
    }
    const dropped = room.queue.length - kept.length
    room.queue = kept
    return { dropped, nextExpiryAt }
  }

  async leave (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    const room = this.rooms.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined || seat.connectionId !== connectionId) return false
    this.rooms.delete(roomId)
    this.count(room, -room.queuedBytes)
    for (const s of room.seats) {
      if (s.token !== undefined) this.tokens.delete(s.token)
      if (s !== seat) s.sink?.end()
    }
    return true
  }

  async openSession (roomId: string, peerId: string, token: string): Promise<SessionGrant> {
    const room = this.rooms.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined) return { token, partner: 'absent' }
    if (seat.token === undefined) {
      seat.token = token
      this.tokens.set(token, { roomId, peerId })
    }
    const partner = room.seats.find(s => s !== seat)
    return {
      token: seat.token,
      partner: partner?.sink !== undefined ? 'connected' : partner?.everBound === true ? 'away' : 'absent'
    }
  }

  async suspend (roomId: string, peerId: string, connectionId: string): Promise<boolean> {
    const room = this.rooms.get(roomId)
    const seat = room?.seats.find(s => s.peerId === peerId)
    if (room === undefined || seat === undefined || seat.connectionId !== connectionId) return false
    seat.sink = undefined
    for (const s of room.seats) if (s !== seat) s.sink?.presence('reconnecting')
    return true
  }

  async claim (roomId: string, token: string, nextToken: string): Promise<ClaimResult> {
    const owner = this.tokens.get(token)
    if (owner === undefined) return { ok: false, reason: 'unknown_token' }
    if (owner.roomId !== roomId) return { ok: false, reason: 'wrong_room' }
    const seat = this.rooms.get(roomId)?.seats.find(s => s.peerId === owner.peerId)
    this.tokens.delete(token)
    if (seat === undefined) return { ok: false, reason: 'unknown_token' }
    seat.token = nextToken
    this.tokens.set(nextToken, owner)
    return { ok: true, peerId: owner.peerId }
  }

  private count (room: Room, bytes: number): void {
    room.queuedBytes += bytes
    this.totalQueuedBytes += bytes
  }

  /** Rooms, seats and queued bytes held now (tests and soak checks). */
  size (): { rooms: number, seats: number, queuedBytes: number, tokens: number } {
    let seats = 0
    let queuedBytes = 0
    for (const room of this.rooms.values()) {
      seats += room.seats.length
      queuedBytes += room.queuedBytes
    }
    return { rooms: this.rooms.size, seats, queuedBytes, tokens: this.tokens.size }
  }

  // Delivers, in order, what the partner queued for this peer; the queue then holds only this
  // peer's own frames for the partner (none, unless the partner is away).
  private drain (room: Room, peerId: string, sink: PeerSink): void {
    if (room.queue.length === 0) return
    const kept: QueuedFrame[] = []
    for (const item of room.queue) {
      if (item.from === peerId) {
        kept.push(item)
      } else {
        this.count(room, -item.bytes)
        sink.deliver(item.frame)
      }
    }
    room.queue = kept
  }
}

/** Creates the in-process room store (the default). */
export function memoryStore (): MemoryStore {
  return new MemoryStore()
}
