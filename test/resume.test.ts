// docs/protocol.md#sessions: reconnect and resume (opt-in sessions), real server, real clients.
import t from 'tap'
import { handshakeStatus, join, sleep, until, type TestPeer } from './helpers/client.js'
import { freshRoom, startServer, type TestServer } from './helpers/server.js'

interface Session { peer: string, token: string, grace: number }

async function openSession (peer: TestPeer): Promise<Session> {
  const answer = await peer.get('/session', 's')
  if (answer.code !== 'success') throw new Error(`no session: ${JSON.stringify(answer)}`)
  return answer.result as Session
}

/** Two peers in a fresh room, both holding sessions, having heard each other join. */
async function sessionPair (server: TestServer): Promise<{ room: string, a: TestPeer, b: TestPeer, sa: Session, sb: Session }> {
  const room = freshRoom()
  const a = await join(server.room(room))
  const sa = await openSession(a)
  const b = await join(server.room(room))
  t.match(await a.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } }, 'a hears b join')
  const sb = await openSession(b)
  t.same(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer } }, 'b hears a is there, by its peer id')
  return { room, a, b, sa, sb }
}

t.test('GET /session answers the peer id, an unguessable token and the grace period', async t => {
  const server = await startServer(t, { resumeGrace: 12 })
  const a = await join(server.room(freshRoom()))
  const session = await openSession(a)
  t.match(session, { peer: String, token: String, grace: 12 })
  t.ok(Buffer.from(session.token, 'base64url').length >= 16, 'at least 128 bits')
  t.same(await openSession(a), session, 'asking again gives the same session')
  const other = await join(server.room(freshRoom()))
  t.not((await openSession(other)).token, session.token)
})

t.test('a dropped session peer resumes within grace: nothing lost, partner never closed', async t => {
  const server = await startServer(t)
  const { room, a, b, sa } = await sessionPair(server)
  a.drop()
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
  for (let i = 0; i < 5; i++) b.send({ method: 'NOTIFY', data: { i } })
  t.equal((await b.get('/peerconnection')).code, 'success', 'b is served while a is away')
  t.equal(await handshakeStatus(server.room(room)), 400, 'the seat is held: a newcomer is refused')

  const back = await join(server.room(room, `resume=${sa.token}`))
  for (let i = 0; i < 5; i++) t.same(await back.next(), { method: 'NOTIFY', data: { i } }, 'queued while away, in order')
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
  back.send({ method: 'NOTIFY', data: 'from a again' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'from a again' })
  b.send({ method: 'NOTIFY', data: 'to a again' })
  t.same(await back.next(), { method: 'NOTIFY', data: 'to a again' })
  const again = await openSession(back)
  t.same({ ...again, token: sa.token }, sa, 'the session carries on')
  t.not(again.token, sa.token, 'under a fresh token: a token is good for one resume')
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'the used token is refused')
  await sleep(50)
  t.equal(b.socket.readyState, b.socket.OPEN, 'the partner was never closed')
})

t.test('a session peer can resume more than once', async t => {
  const server = await startServer(t)
  const { room, b, sa, a } = await sessionPair(server)
  let current = a
  let token = sa.token
  for (let round = 0; round < 3; round++) {
    current.drop()
    t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
    current = await join(server.room(room, `resume=${token}`))
    t.match(await b.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
    token = (await openSession(current)).token
  }
  current.send({ method: 'NOTIFY', data: 'third time' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'third time' })
})

t.test('grace running out is an ordinary leave', async t => {
  const server = await startServer(t, { resumeGrace: 0.2 })
  const { room, a, b, sa } = await sessionPair(server)
  a.drop()
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
  t.equal((await b.closed).code, 1000, 'the partner is closed when grace ends')
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'the token died with the session')
  await until(() => server.app.notify.stats().peers === 0)
  t.equal(await handshakeStatus(server.room(room)), 101, 'the room is free')
})

t.test('a resume while the old connection is still open takes over: the old one gets 4001', async t => {
  const server = await startServer(t)
  const { room, a, b, sa } = await sessionPair(server)
  const fresh = await join(server.room(room, `resume=${sa.token}`))
  t.same(await a.closed, { code: 4001, reason: 'replaced' })
  fresh.send({ method: 'NOTIFY', data: 'new socket' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'new socket' })
  b.send({ method: 'NOTIFY', data: 'reply' })
  t.same(await fresh.next(), { method: 'NOTIFY', data: 'reply' })
  t.same(b.pending(), [], 'the partner saw no presence change: the seat never emptied')
})

t.test('unknown, wrong-room or finished tokens are refused with 400', async t => {
  const server = await startServer(t)
  const { room, a, b, sa } = await sessionPair(server)
  t.equal(await handshakeStatus(server.room(room, 'resume=not-a-token')), 400)
  t.equal(await handshakeStatus(server.room(freshRoom(), `resume=${sa.token}`)), 400, 'wrong room')
  a.close() // a hang-up ends the session
  await b.closed
  await until(() => server.app.notify.stats().peers === 0)
  t.equal(await handshakeStatus(server.room(room, `resume=${sa.token}`)), 400, 'session over')
})

t.test('a session peer that closes on purpose (1000, 1001, or no code) hangs up at once', async t => {
  const server = await startServer(t)
  for (const code of [1000, 1001, undefined]) {
    const { a, b } = await sessionPair(server)
    a.close(code)
    t.equal((await b.closed).code, 1000, `close ${code ?? 'without a code'}`)
  }
})

t.test('a session peer closing with an error code is a drop, given grace', async t => {
  const server = await startServer(t)
  const { a, b } = await sessionPair(server)
  a.close(4000)
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
})

t.test('a heartbeat timeout of a session peer is a drop, given grace', async t => {
  const server = await startServer(t, { heartbeatInterval: 0.1 })
  const room = freshRoom()
  const silent = await join(server.room(room), { autoPong: false })
  const sa = await openSession(silent)
  const b = await join(server.room(room))
  await openSession(b)
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } }, 'dropped by the heartbeat')
  const back = await join(server.room(room, `resume=${sa.token}`))
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
  back.send({ method: 'NOTIFY', data: 1 })
  t.same(await b.next(), { method: 'NOTIFY', data: 1 })
})

t.test('seed clients without a session: a drop ends the call at once, and no PRESENCE ever', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  a.send({ method: 'NOTIFY', data: 'hi' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'hi' })
  a.drop()
  t.equal((await b.closed).code, 1000)
  t.same(b.pending(), [], 'no PRESENCE frames')
})

t.test('a session peer alone hears nothing until its partner joins', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  await openSession(a)
  await sleep(50)
  t.same(a.pending(), [])
  await join(server.room(room))
  t.match(await a.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
})

t.test('resumeGrace 0 turns sessions off', async t => {
  const server = await startServer(t, { resumeGrace: 0 })
  const a = await join(server.room(freshRoom()))
  t.same(await a.get('/session', 4), { code: 'failed', reason: 'sessions are disabled on this server', msg_id: 4 })
})

t.test('shutting down suspends session peers rather than ending their calls', async t => {
  const server = await startServer(t)
  const { a, b } = await sessionPair(server)
  await server.app.close()
  t.equal((await a.closed).code, 1001)
  t.equal((await b.closed).code, 1001)
})
