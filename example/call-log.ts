// An app that builds on its calls: it hands out signed call links, keeps a log of the calls
// from the events of fastify.notify, and lets an admin list the live rooms and close one.
//
//   npm run build
//   CALL_LINK_SECRET=... ADMIN_SECRET=... PORT=3000 \
//     TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import example/call-log.ts
//
// One instance: with several behind a Redis store, each hears the events of its own peers,
// so the log would go to a database they share.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import notify, { type PeerLeftReason, type RoomEndedReason } from 'fastify-rtc-notify'
import { signCallLink, verifyCallLink, type Caller } from './call-links.js'

/** A peer of a call, as the log keeps it. */
interface Participant extends Caller {
  joinedAt: number
  leftAt?: number
  leftBecause?: PeerLeftReason
}

/** A call, from its room's creation to its end. */
interface Call {
  room: string
  startedAt: number
  endedAt?: number
  durationMs?: number
  endedBecause?: RoomEndedReason
  participants: Participant[]
}

/** The calls this instance saw end, newest first, built from the events of `fastify.notify`. */
class CallLog {
  private readonly live = new Map<string, Call>()
  // By peer id: a peer's leave may be told after its room ended (its partner's call ends with it).
  private readonly present = new Map<string, Participant>()
  private readonly ended: Call[] = []

  constructor (events: FastifyInstance['notify'], private readonly keep = 1000) {
    events.on('room:created', e => { this.live.set(e.roomId, { room: e.roomId, startedAt: e.at, participants: [] }) })
    events.on('peer:joined', e => {
      const caller = e.identity as Caller
      const participant: Participant = { userId: caller.userId, name: caller.name, joinedAt: e.at }
      this.live.get(e.roomId)?.participants.push(participant)
      this.present.set(e.peerId, participant)
    })
    events.on('peer:left', e => {
      const participant = this.present.get(e.peerId)
      if (participant === undefined) return
      this.present.delete(e.peerId)
      participant.leftAt = e.at
      participant.leftBecause = e.reason
    })
    events.on('room:ended', e => {
      const call = this.live.get(e.roomId)
      this.live.delete(e.roomId)
      // A room whose only handshake failed was never a call.
      if (call === undefined || call.participants.length === 0) return
      // createdAt is room:created's `at`; taken from here, a call that began before this log
      // was listening still gets its start.
      Object.assign(call, { startedAt: e.createdAt, endedAt: e.at, durationMs: e.durationMs, endedBecause: e.reason })
      this.ended.unshift(call)
      this.ended.length = Math.min(this.ended.length, this.keep)
    })
  }

  /** The ended calls, newest first. */
  calls (): readonly Call[] {
    return this.ended
  }
}

const linkSecret = required('CALL_LINK_SECRET')
const adminSecret = digest(required('ADMIN_SECRET'))
// How long a call link lets its holder in.
const linkLifetimeSeconds = 3600

const app = Fastify({ logger: true })

// Peers open ws://<host>/rtc/call/<room>?token=<token>; the identity in the token is theirs.
await app.register(notify, {
  prefix: '/rtc',
  authorize (request, roomId) {
    const token = request.query.token
    return (typeof token === 'string' && verifyCallLink(linkSecret, roomId, token)) || false
  }
})
const log = new CallLog(app.notify)
app.notify.on('room:ended', e => app.log.info({ room: e.roomId, durationMs: e.durationMs, reason: e.reason }, 'call ended'))

// Stands in for the app's own API behind its login: a real app takes the caller from its
// session, not from the body.
app.post<{ Body: { room?: string, userId: string, name: string } }>('/api/links', {
  schema: {
    body: {
      type: 'object',
      required: ['userId', 'name'],
      additionalProperties: false,
      properties: {
        room: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' },
        userId: { type: 'string', minLength: 1, maxLength: 64 },
        name: { type: 'string', minLength: 1, maxLength: 100 }
      }
    }
  }
}, async request => {
  const { room = randomUUID(), userId, name } = request.body
  const expiresAt = Math.floor(Date.now() / 1000) + linkLifetimeSeconds
  const token = signCallLink(linkSecret, room, { userId, name }, expiresAt)
  return { room, expiresAt, path: `/rtc/call/${room}?token=${token}` }
})

app.get('/api/calls', async () => ({ calls: log.calls() }))

// The admin's routes: the ADMIN_SECRET in an x-admin-secret header.
await app.register(async admin => {
  admin.addHook('onRequest', async (request, reply) => {
    const given = request.headers['x-admin-secret']
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), adminSecret)) return reply.code(401).send({ error: 'admin only' })
  })

  // The live rooms, across every instance sharing the store; rooms() fetches a few at a time.
  admin.get<{ Querystring: { limit?: number } }>('/api/rooms', {
    schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } } }
  }, async request => {
    const rooms = []
    for await (const room of app.notify.rooms()) {
      rooms.push({
        room: room.roomId,
        createdAt: room.createdAt,
        peers: room.peers.map(peer => ({ peerId: peer.peerId, ...(peer.identity as Caller), state: peer.state, since: peer.since }))
      })
      if (rooms.length === request.query.limit) break
    }
    return { rooms }
  })

  // Ends a call for everyone in it (close code 4004); the log records it as `closed`.
  admin.post<{ Params: { id: string } }>('/api/rooms/:id/close', async (request, reply) => {
    const closed = await app.notify.closeRoom(request.params.id, 'closed by the organizer')
    return reply.code(closed ? 204 : 404).send()
  })
})

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })

function required (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') {
    console.error(`example/call-log.ts: set ${name}`)
    process.exit(1)
  }
  return value
}

// Equal-length digests, so that the comparison takes the same time whatever was sent.
function digest (secret: string): Buffer {
  return createHash('sha256').update(secret).digest()
}
