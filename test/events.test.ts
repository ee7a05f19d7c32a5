// The events of fastify.notify on one instance (memory store): the story of a call as the app
// hears it, the identity authorize gave each peer, and listeners that fail.
import { Writable } from 'node:stream'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyRequest } from 'fastify'
import t from 'tap'
import type WebSocket from 'ws'
import { handshakeStatus, join, sleep, TestPeer, until } from './helpers/client.js'
import { authorizeByQuery, callWithSession, openSession, people } from './helpers/callers.js'
import { EventLog } from './helpers/events.js'
import { freshRoom, startServer, type TestServer } from './helpers/server.js'
import { notify, type NotifyOptions } from '../lib/index.js'
import type { NotifyApi } from '../lib/notify-api.js'

async function serverWithUsers (options: NotifyOptions = {}): Promise<TestServer> {
  return await startServer(t, { authorize: authorizeByQuery, ...options })
}

/** A peer that records every text frame it receives, from its first. */
async function recordingPeer (url: string): Promise<{ peer: TestPeer, texts: string[] }> {
  const peer = new TestPeer(url)
  const texts = peer.texts()
  await peer.opened
  return { peer, texts }
}

t.test('the story of a call: join, relay, drop, resume, leave', async t => {
  const server = await serverWithUsers({ resumeGrace: 10 })
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const a = await join(server.room(room, 'user=ada'))
  const sa = await openSession(a)
  await log.waitFor('peer:joined', room)
  a.send('{"method":"NOTIFY","data":"before b"}')
  await log.waitFor('message:relayed', room, 1)
  const b = await join(server.room(room, 'user=bob'))
  t.same(await b.next(), { method: 'NOTIFY', data: 'before b' })
  await openSession(b)
  a.send('{"method":"NOTIFY","data":"live"}')
  t.same(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer } })
  t.same(await b.next(), { method: 'NOTIFY', data: 'live' })
  await log.waitFor('message:relayed', room, 2)
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  b.send('{"method":"NOTIFY","data":"while a is away"}')
  await log.waitFor('message:relayed', room, 3)
  const back = await join(server.room(room, `user=ada&resume=${sa.token}`))
  t.same(await back.next(), { method: 'NOTIFY', data: 'while a is away' })
  await log.waitFor('peer:resumed', room)
  back.close(1000)
  t.same(await b.closed, { code: 1000, reason: 'the other peer left' })
  await log.waitFor('peer:left', room, 2)

  t.same(log.story(room), [
    'room:created@app', 'peer:joined@app', 'message:relayed@app', 'peer:joined@app', 'message:relayed@app',
    'peer:reconnecting@app', 'message:relayed@app', 'peer:resumed@app',
    'peer:left@app', 'room:ended@app', 'peer:left@app'
  ], 'each event once, in this order (the partner\'s leave is heard after the room ended)')
  const ada = { roomId: room, peerId: sa.peer, identity: people.ada }
  const bobId = log.named('peer:joined', room)[1].payload.peerId
  const bob = { roomId: room, peerId: bobId, identity: people.bob }
  t.not(bobId, sa.peer)
  const relayed = log.named('message:relayed', room).map(e => e.payload)
  t.match(relayed, [
    { ...ada, bytes: Buffer.byteLength('{"method":"NOTIFY","data":"before b"}'), outcome: 'queued' },
    { ...ada, bytes: Buffer.byteLength('{"method":"NOTIFY","data":"live"}'), outcome: 'delivered' },
    { ...bob, bytes: Buffer.byteLength('{"method":"NOTIFY","data":"while a is away"}'), outcome: 'queued' }
  ])
  t.match(log.named('peer:joined', room).map(e => e.payload), [ada, bob])
  t.match(log.named('peer:reconnecting', room)[0].payload, ada)
  t.match(log.named('peer:resumed', room)[0].payload, ada)
  t.match(log.named('peer:left', room).map(e => e.payload), [
    { ...ada, reason: 'hung-up', closeCode: 1000 },
    { ...bob, reason: 'call-ended', closeCode: 1000 }
  ])
  const created = log.named('room:created', room)[0].payload
  const ended = log.named('room:ended', room)[0].payload
  t.match(ended, { roomId: room, createdAt: created.at, reason: 'peer-left' })
  t.equal(ended.durationMs, ended.at - created.at, 'the duration is from creation to end')
  for (const e of log.seen) t.type(e.payload.at, 'number')
})

// A dropped session peer's grace timer keeps running after a resume; when it runs out the
// store finds the seat bound elsewhere, and nothing is reported.
t.test('a peer that resumed is not reported as having left when its old grace period runs out', async t => {
  const server = await serverWithUsers({ resumeGrace: 0.5 })
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const { a, sa, b } = await callWithSession(log, room, server.room(room, 'user=ada'), server.room(room, 'user=bob'))
  await openSession(b)
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  const back = await join(server.room(room, `user=ada&resume=${sa.token}`))
  await log.waitFor('peer:resumed', room)
  // Well past the grace period of the dropped connection: the peer is still in its call.
  await sleep(1000)
  t.equal(back.socket.readyState, back.socket.OPEN, 'the resumed peer is still connected')
  t.same(log.named('peer:left', room).map(e => e.payload.reason), [], 'nobody left')
  t.same((await server.app.notify.room(room))?.peers.map(p => p.state), ['connected', 'connected'])
})

t.test('a peer away when its partner hangs up leaves once', async t => {
  const server = await serverWithUsers({ resumeGrace: 0.5 })
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const a = await join(server.room(room, 'user=ada'))
  await openSession(a)
  const b = await join(server.room(room, 'user=bob'))
  await log.waitFor('peer:joined', room, 2)
  a.drop()
  await log.waitFor('peer:reconnecting', room)
  b.close(1000)
  await log.waitFor('room:ended', room)
  await sleep(1000)
  t.same(log.named('peer:left', room).map(e => `${e.payload.identity === undefined ? '?' : (e.payload.identity as { name: string }).name}:${e.payload.reason}`),
    ['Bob Kahn:hung-up', 'Ada Lovelace:call-ended'], 'the away peer left once, when the call ended')
})

t.test('identity: in events and listings, never in what the other peers receive', async t => {
  for (const roomSize of [2, 3]) {
    t.test(`a room of ${roomSize}`, async t => {
      const server = await serverWithUsers({ roomSize })
      const log = new EventLog().watch(server.app.notify)
      const room = freshRoom()
      const { peer: a, texts: atA } = await recordingPeer(server.room(room, 'user=ada'))
      const sa = await openSession(a)
      const { peer: b, texts: atB } = await recordingPeer(server.room(room, 'user=bob'))
      const sb = await openSession(b)
      await log.waitFor('peer:joined', room, 2)

      const listed = await server.app.notify.room(room)
      t.match(listed, {
        roomId: room,
        size: roomSize,
        peers: [
          { peerId: sa.peer, identity: people.ada, state: 'connected', since: Number },
          { peerId: sb.peer, identity: people.bob, state: 'connected', since: Number }
        ]
      })
      const all = []
      for await (const r of server.app.notify.rooms()) all.push(r)
      t.same(all, [listed], 'rooms() lists it the same way')

      // Everything that can make the server tell a peer about another: relays, drop, resume, leave.
      a.send({ method: 'NOTIFY', data: 'hello' })
      b.send({ method: 'NOTIFY', data: 'hi' })
      await log.waitFor('message:relayed', room, 2)
      a.drop()
      await log.waitFor('peer:reconnecting', room)
      const { peer: back, texts: atBack } = await recordingPeer(server.room(room, `user=ada&resume=${sa.token}`))
      await log.waitFor('peer:resumed', room)
      back.send({ method: 'NOTIFY', data: 'back' })
      await until(() => atB.some(text => text.includes('"back"') && text.includes('NOTIFY')))
      back.close(1000)
      await log.waitFor('peer:left', room)
      if (roomSize === 2) await b.closed
      else b.close(1000)
      await log.waitFor('room:ended', room)

      t.ok(atB.some(text => text.includes('PRESENCE')), 'b was told about a (PRESENCE frames)')
      for (const [who, texts, other] of [['b', atB, people.ada], ['a', [...atA, ...atBack], people.bob]] as const) {
        t.ok(texts.length >= 3, `${who} received frames`)
        const leaked = texts.filter(text => text.includes(other.userId) || text.includes(other.name) || text.includes('identity'))
        t.same(leaked, [], `nothing ${who} received names the other peer`)
      }
      for (const e of log.named('peer:left', room)) t.same(e.payload.identity, e.payload.peerId === sa.peer ? people.ada : people.bob)
    })
  }
})

t.test('shareIdentity: true tells the other peers who is there', async t => {
  for (const roomSize of [2, 3]) {
    t.test(`a room of ${roomSize}`, async t => {
      const server = await serverWithUsers({ roomSize, shareIdentity: true })
      const room = freshRoom()
      const a = await join(server.room(room, 'user=ada'))
      const sa = await openSession(a)
      const b = await join(server.room(room, 'user=bob'))
      if (roomSize > 2) {
        t.match(await b.next(), { method: 'ROOM', data: { peer: String, size: roomSize, peers: [{ peer: sa.peer, identity: people.ada }] } })
        await openSession(b)
      } else {
        await openSession(b)
        t.same(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer, identity: people.ada } })
      }
      t.match(await a.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String, identity: people.bob } })
      a.drop()
      t.same(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: sa.peer, identity: people.ada } })
    })
  }
})

t.test('a resume must be authorized as the seat\'s identity', async t => {
  const server = await serverWithUsers()
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const a = await join(server.room(room, 'user=ada'))
  const sa = await openSession(a)
  const b = await join(server.room(room, 'user=bob'))
  await openSession(b)
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: sa.peer } })
  a.drop()
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: sa.peer } })
  t.equal(await handshakeStatus(server.room(room, `user=cy&resume=${sa.token}`)), 403, 'another identity is refused')
  t.equal(await handshakeStatus(server.room(room, `user=nobody&resume=${sa.token}`)), 403, 'no identity is refused')
  t.match(log.named('handshake:refused', room).map(e => e.payload), [
    { roomId: room, statusCode: 403, code: 'FST_RTC_NOTIFY_UNAUTHORIZED' },
    { roomId: room, statusCode: 403, code: 'FST_RTC_NOTIFY_UNAUTHORIZED' }
  ])
  const back = await join(server.room(room, `user=ada&resume=${sa.token}`))
  t.match(await b.next(), { method: 'PRESENCE', data: { state: 'back', peer: sa.peer } })
  back.send({ method: 'NOTIFY', data: 'it is me' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'it is me' }, 'the right identity resumes, with the token the refusals did not use up')
  t.match((await log.waitFor('peer:resumed', room))[0].payload, { peerId: sa.peer, identity: people.ada })
})

t.test('authorize returning true: no identity anywhere', async t => {
  const server = await startServer(t, { authorize: () => true })
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  await join(server.room(room))
  const [joined] = await log.waitFor('peer:joined', room)
  t.equal(joined.payload.identity, undefined)
  t.equal((await server.app.notify.room(room))?.peers[0].identity, undefined)
})

t.test('an identity that is not JSON, or over 4 KiB of it, fails the handshake (500), taking no seat', async t => {
  const server = await startServer(t, {
    authorize: (request: FastifyRequest) => {
      const kind = (request.query as { kind?: string }).kind
      if (kind === 'big') return { name: 'x'.repeat(4096) }
      if (kind === 'bigint') return { id: 10n }
      return { name: 'x'.repeat(4000) }
    }
  })
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  t.equal(await handshakeStatus(server.room(room, 'kind=big')), 500)
  t.equal(await handshakeStatus(server.room(room, 'kind=bigint')), 500)
  t.match(log.named('handshake:refused', room).map(e => e.payload), [
    { statusCode: 500, code: 'FST_RTC_NOTIFY_BAD_IDENTITY' },
    { statusCode: 500, code: 'FST_RTC_NOTIFY_BAD_IDENTITY' }
  ])
  t.same(server.app.notify.stats(), { rooms: 0, peers: 0 })
  await join(server.room(room, 'kind=fits'))
  const [joined] = await log.waitFor('peer:joined', room)
  t.same(joined.payload.identity, { name: 'x'.repeat(4000) }, 'just under 4 KiB is an identity')
})

t.test('message:relayed carries the bytes and the outcome; message:refused the code', async t => {
  const server = await startServer(t)
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  const a = await join(server.room(room))
  await log.waitFor('peer:joined', room)
  const queued = '{"method":"NOTIFY","data":"wait for b","extra":"é"}'
  a.send(queued)
  await log.waitFor('message:relayed', room, 1)
  const b = await join(server.room(room))
  t.same(await b.next(), JSON.parse(queued))
  a.send('not json')
  t.same(await a.next(), { code: 'failed', reason: 'frame is not valid JSON' })
  a.send({ method: 'NOTIFY' })
  t.match(await a.next(), { code: 'failed', reason: 'NOTIFY frame has no data' })
  const live = JSON.stringify({ method: 'NOTIFY', data: 'x'.repeat(1000) })
  a.send(live)
  await b.next()
  await log.waitFor('message:relayed', room, 2)
  t.match(log.named('message:relayed', room).map(e => e.payload), [
    { bytes: Buffer.byteLength(queued), outcome: 'queued' },
    { bytes: Buffer.byteLength(live), outcome: 'delivered' }
  ], 'bytes as sent (UTF-8)')
  t.match(log.named('message:refused', room).map(e => e.payload), [
    { roomId: room, code: 'not_json', at: Number },
    { roomId: room, code: 'missing_data', at: Number }
  ])
})

t.test('handshake:refused carries the HTTP status and the code', async t => {
  const server = await serverWithUsers()
  const log = new EventLog().watch(server.app.notify)
  const room = freshRoom()
  t.equal(await handshakeStatus(server.room(room, 'user=mallory')), 403)
  await join(server.room(room, 'user=ada'))
  await join(server.room(room, 'user=bob'))
  t.equal(await handshakeStatus(server.room(room, 'user=cy')), 400)
  t.equal(await handshakeStatus(server.room(room, 'user=cy&resume=not-a-token')), 400)
  t.equal(await handshakeStatus(`${server.ws}/call/bad%01id?user=ada`), 400)
  await until(() => log.named('handshake:refused').length === 4)
  t.match(log.named('handshake:refused').map(e => e.payload), [
    { roomId: room, statusCode: 403, code: 'FST_RTC_NOTIFY_UNAUTHORIZED', at: Number },
    { roomId: room, statusCode: 400, code: 'FST_RTC_NOTIFY_ROOM_FULL' },
    { roomId: room, statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_RESUME_TOKEN' },
    { statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_ROOM_ID' }
  ])
  t.equal(log.named('room:created').length, 1, 'refusals create no room')
})

/** An app logging errors into `lines`, with the plugin. */
async function appWithLog (lines: Array<Record<string, unknown>>): Promise<TestServer> {
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'error', stream } })
  await app.register(notify)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  const ws = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  return { app, ws, http: ws.replace('ws', 'http'), room: (id, query) => `${ws}/call/${id}${query === undefined ? '' : '?' + query}` }
}

t.test('a listener that throws, or rejects, is logged; the call and the other listeners go on', async t => {
  const lines: Array<Record<string, unknown>> = []
  const server = await appWithLog(lines)
  const api = server.app.notify
  api.on('peer:joined', () => { throw new Error('listener bug') })
  api.on('message:relayed', async () => { throw new Error('async listener bug') })
  // A slow async listener: never awaited, it holds nothing up.
  api.on('message:relayed', async () => await new Promise(() => {}))
  api.on('room:ended', () => { throw new Error('on the way out') })
  const log = new EventLog().watch(api)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  for (let i = 0; i < 20; i++) a.send({ method: 'NOTIFY', data: i })
  for (let i = 0; i < 20; i++) t.same(await b.next(), { method: 'NOTIFY', data: i })
  b.send({ method: 'NOTIFY', data: 'back' })
  t.same(await a.next(), { method: 'NOTIFY', data: 'back' })
  a.close(1000)
  t.equal((await b.closed).code, 1000)
  await log.waitFor('peer:left', room, 2)
  await until(() => lines.length >= 24)
  t.same(log.story(room).filter(name => name !== 'message:relayed@app'),
    ['room:created@app', 'peer:joined@app', 'peer:joined@app', 'peer:left@app', 'room:ended@app', 'peer:left@app'],
    'the listener registered after the failing ones heard everything')
  t.equal(log.named('message:relayed', room).length, 21)
  const failures = lines.filter(line => line.msg === 'a listener of fastify.notify failed')
  t.same(failures.map(line => [line.event, (line.err as { message: string }).message]).sort(), [
    ...Array.from({ length: 2 }, () => ['peer:joined', 'listener bug']),
    ...Array.from({ length: 21 }, () => ['message:relayed', 'async listener bug']),
    ['room:ended', 'on the way out']
  ].sort())
  t.same(server.app.notify.stats(), { rooms: 0, peers: 0 })
})

t.test('a listener added and removed again: off() works, once() fires once', async t => {
  const server = await startServer(t)
  const api = server.app.notify
  const heard: string[] = []
  const relayed = (): void => { heard.push('relayed') }
  api.on('message:relayed', relayed)
  api.once('peer:joined', e => { heard.push(`joined ${e.peerId.length}`) })
  const { a, b } = await (async () => {
    const room = freshRoom()
    return { a: await join(server.room(room)), b: await join(server.room(room)) }
  })()
  a.send({ method: 'NOTIFY', data: 1 })
  await b.next()
  await until(() => heard.includes('relayed'))
  api.off('message:relayed', relayed)
  a.send({ method: 'NOTIFY', data: 2 })
  await b.next()
  await sleep(20)
  t.same(heard, ['joined 16', 'relayed'])
  t.equal((api as NotifyApi).relayWatched, false, 'nobody listens to message:relayed any more: the hot path skips it')
})

t.test('app.injectWS against the plugin, with the app\'s own @fastify/websocket', async t => {
  const app = Fastify()
  await app.register(websocket)
  await app.register(notify, { authorize: authorizeByQuery })
  await app.ready()
  t.teardown(() => app.close())
  const log = new EventLog().watch(app.notify)
  const room = freshRoom()
  const a = await app.injectWS(`/call/${room}?user=ada`)
  const b = await app.injectWS(`/call/${room}?user=bob`)
  const received = new Promise<string>(resolve => b.once('message', (data: WebSocket.RawData) => resolve(data.toString())))
  a.send('{"method":"NOTIFY","data":"in process"}')
  t.equal(await received, '{"method":"NOTIFY","data":"in process"}')
  await log.waitFor('peer:joined', room, 2)
  t.match((await app.notify.room(room))?.peers, [{ identity: people.ada, state: 'connected' }, { identity: people.bob, state: 'connected' }])
  await t.rejects(app.injectWS(`/call/${room}?user=mallory`), /403/)
  // In process, a close handshake never completes on the server's side (@fastify/websocket's
  // injectWS streams do not end, for any route; the server's own close waits for ws's 30 s
  // timeout): in-process peers end with terminate(), both before the server closes either.
  a.terminate()
  b.terminate()
  await log.waitFor('peer:left', room, 2)
  await until(() => app.notify.stats().peers === 0)
  await log.waitFor('room:ended', room)
  t.same(log.story(room).filter(name => name !== 'room:ended@app'), [
    'room:created@app', 'peer:joined@app', 'peer:joined@app', 'message:relayed@app', 'handshake:refused@app',
    'peer:left@app', 'peer:left@app'
  ])
  const left = log.named('peer:left', room).map(e => e.payload)
  t.match(left.find(e => e.identity !== undefined && (e.identity as { name: string }).name === people.ada.name),
    { reason: 'dropped', closeCode: 1006 })
  // b's connection ended at about the time the call did: either is its story.
  t.match(left.find(e => e.identity !== undefined && (e.identity as { name: string }).name === people.bob.name),
    { reason: /^(call-ended|dropped)$/ })
  t.same(app.notify.stats(), { rooms: 0, peers: 0 })
})
