import type { FastifyRequest } from 'fastify'
import { join, type TestPeer } from './client.js'
import type { EventLog } from './events.js'

/** The app's users in tests of identity: `?user=ada` in a handshake makes Ada the peer's identity. */
export const people: Record<string, { userId: string, name: string }> = {
  ada: { userId: 'u-ada-1815', name: 'Ada Lovelace' },
  bob: { userId: 'u-bob-1900', name: 'Bob Kahn' },
  cy: { userId: 'u-cy-1950', name: 'Cy Twombly' }
}

/**
 * An `authorize` hook that takes the caller's word (`?user=`) for who it is: the identity is
 * one of `people`, anyone else is refused. (A real app checks a signed token: example/call-log.ts.)
 */
export function authorizeByQuery (request: FastifyRequest): Record<string, unknown> | false {
  return people[String((request.query as { user?: string }).user)] ?? false
}

/** What GET /session answers. */
export interface Session { peer: string, token: string, grace: number }

/** Asks for a session; frames that come before the answer (a group room's ROOM) are skipped. */
export async function openSession (peer: TestPeer): Promise<Session> {
  peer.send({ method: 'GET', resource: '/session', msg_id: 's' })
  for (;;) {
    const frame = await peer.next()
    if (frame.msg_id !== 's') continue
    if (frame.code !== 'success') throw new Error(`no session: ${JSON.stringify(frame)}`)
    return frame.result as Session
  }
}

/**
 * A two-party call in `room`: `a` joins at `atA` and asks for a session, then `b` joins at
 * `atB`; resolves once the app (`log`) heard both join.
 * @param atA the ws URL of the room for a (at an instance, with its query)
 */
export async function callWithSession (log: EventLog, room: string, atA: string, atB: string): Promise<{ a: TestPeer, sa: Session, b: TestPeer }> {
  const a = await join(atA)
  const sa = await openSession(a)
  const b = await join(atB)
  await log.waitFor('peer:joined', room, 2)
  return { a, sa, b }
}
