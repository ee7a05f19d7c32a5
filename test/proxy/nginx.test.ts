// Two instances of the standalone server behind a real nginx running example/nginx.conf, the
// config the README shows: TLS ends at nginx, every handshake for a room (a resume too) goes to
// one instance, and the instances apply their rules to the client nginx forwards
// (--trust-proxy): its Host, its Origin, its address.
import t from 'tap'
import { until, type Message, type TestPeer } from '../helpers/client.js'
import { freshRoom, openSession } from '../redis/instances.js'
import { RedisServer } from '../redis/redis-server.js'
import { joinThrough, peersAt, publicHost, refusal, settledPeers, startDeployment } from './deployment.js'

const publicOrigin = `https://${publicHost}`
// How the README says to run an instance behind nginx, plus the allow-lists.
const behindNginx = ['--trust-proxy', '127.0.0.1', '--max-connections-per-ip', '0']

const redis = await RedisServer.start(t)
const deployment = await startDeployment(t, redis, [...behindNginx, '--host', publicHost, '--origin', publicOrigin])

// Every test leaves the instances without peers: the next one counts from zero.
t.afterEach(async () => { await settledPeers(deployment, 0) })

/** The next frame that is not a PRESENCE notice. */
async function nextFrame (peer: TestPeer): Promise<Message> {
  for (;;) {
    const frame = await peer.next()
    if (frame.method !== 'PRESENCE') return frame
  }
}

/** Opens both peers of `room` through nginx and returns them with where the instances' peers are. */
async function pairIn (room: string, paths?: [string, string]): Promise<{ a: TestPeer, b: TestPeer, before: [number, number], after: [number, number] }> {
  const before = await peersAt(deployment)
  const a = await joinThrough(deployment, paths?.[0] ?? `/call/${room}`)
  const b = await joinThrough(deployment, paths?.[1] ?? `/call/${room}`)
  const after = await settledPeers(deployment, before[0] + before[1] + 2)
  return { a, b, before, after }
}

/** Which instance took both peers (0 or 1), or -1 when they were split. */
function instanceOfPair (before: [number, number], after: [number, number]): number {
  const added = [after[0] - before[0], after[1] - before[1]]
  return added[0] === 2 && added[1] === 0 ? 0 : added[0] === 0 && added[1] === 2 ? 1 : -1
}

t.test('over wss through nginx: a relay both ways, both peers on one instance, a third peer gets 400', async t => {
  const room = freshRoom()
  const { a, b, before, after } = await pairIn(room)
  t.not(instanceOfPair(before, after), -1, `both peers on one instance (peers per instance ${JSON.stringify(before)} → ${JSON.stringify(after)})`)
  a.send({ method: 'NOTIFY', data: { type: 'offer' } })
  t.same(await nextFrame(b), { method: 'NOTIFY', data: { type: 'offer' } })
  b.send({ method: 'NOTIFY', data: { type: 'answer' } })
  t.same(await nextFrame(a), { method: 'NOTIFY', data: { type: 'answer' } })
  t.same(await refusal(deployment, `/call/${room}`), { status: 400, code: 'FST_RTC_NOTIFY_ROOM_FULL' })
  a.close()
  b.close()
})

t.test('routing by room: the two peers of each of 20 rooms meet on one instance, and the rooms use both', async t => {
  const placed = [0, 0]
  const peers: TestPeer[] = []
  for (let i = 0; i < 20; i++) {
    const { a, b, before, after } = await pairIn(freshRoom())
    peers.push(a, b)
    const instance = instanceOfPair(before, after)
    if (instance === -1) t.fail(`room ${i} was split: ${JSON.stringify(before)} → ${JSON.stringify(after)}`)
    else placed[instance]++
  }
  t.ok(placed[0] > 0 && placed[1] > 0, `rooms per instance: ${JSON.stringify(placed)}`)
  for (const peer of peers) peer.close()
})

t.test('nginx routes by the decoded path: /call/<id>%40y and /call/<id>@y, one room, meet on one instance', async t => {
  // Ten rooms: were the path hashed as sent, about half would be split.
  for (let i = 0; i < 10; i++) {
    const room = freshRoom()
    const { a, b, before, after } = await pairIn(room, [`/call/${room}%40y`, `/call/${room}@y`])
    t.not(instanceOfPair(before, after), -1, `${room}: both on one instance`)
    a.send({ method: 'NOTIFY', data: 'same room' })
    t.same(await nextFrame(b), { method: 'NOTIFY', data: 'same room' })
    a.close()
    b.close()
    await settledPeers(deployment, 0)
  }
})

t.test('--host through nginx: the Host the client asked nginx for, which it cannot forge with X-Forwarded-Host', async t => {
  const path = `/call/${freshRoom()}`
  t.same(await refusal(deployment, path), { status: 101 }, `Host: ${publicHost}`)
  t.same(await refusal(deployment, path, { host: 'elsewhere.example.com' }),
    { status: 403, code: 'FST_RTC_NOTIFY_HOST_NOT_ALLOWED' }, 'another Host')
  t.same(await refusal(deployment, path, { host: 'elsewhere.example.com', headers: { 'x-forwarded-host': publicHost } }),
    { status: 403, code: 'FST_RTC_NOTIFY_HOST_NOT_ALLOWED' }, 'another Host, with the allowed one in X-Forwarded-Host')
  t.same(await refusal(deployment, path, { host: `${publicHost}:8443` }),
    { status: 403, code: 'FST_RTC_NOTIFY_HOST_NOT_ALLOWED' }, 'the port is part of the Host')
})

t.test('--origin through nginx', async t => {
  const path = `/call/${freshRoom()}`
  t.same(await refusal(deployment, path, { origin: publicOrigin }), { status: 101 }, 'the allowed Origin')
  t.same(await refusal(deployment, path, { origin: 'https://elsewhere.example.com' }),
    { status: 403, code: 'FST_RTC_NOTIFY_ORIGIN_NOT_ALLOWED' }, 'another Origin')
  t.same(await refusal(deployment, path), { status: 101 }, 'no Origin (not a browser)')
})

t.test('resume through nginx: ?resume= lands on the room\'s instance, and the token stays out of the access log', async t => {
  // Ten rooms: were the query part of the key, about half the resumes would land elsewhere.
  const resumes: Array<{ room: string, token: string, instance: number }> = []
  for (let i = 0; i < 10; i++) {
    const room = freshRoom()
    const { a, b, after } = await pairIn(room)
    const instance = instanceOfPair([0, 0], after)
    t.not(instance, -1, `${room}: both peers on one instance`)
    const { token } = await openSession(a)
    a.drop()
    await settledPeers(deployment, 1)
    b.send({ method: 'NOTIFY', data: 'while you were away' })
    const resumed = await joinThrough(deployment, `/call/${room}?resume=${encodeURIComponent(token)}`)
    t.same(await settledPeers(deployment, 2), after, `${room}: back on the same instance`)
    t.same(await nextFrame(resumed), { method: 'NOTIFY', data: 'while you were away' }, 'the frame queued meanwhile')
    resumed.send({ method: 'NOTIFY', data: 'back' })
    t.same(await nextFrame(b), { method: 'NOTIFY', data: 'back' })
    resumed.close()
    await b.closed
    await settledPeers(deployment, 0)
    resumes.push({ room, token, instance })
  }
  // nginx writes a request's line when it ends: three handshakes per room.
  // (Room ids here are letters, digits and dashes.)
  const linesOf = (room: string): string[] => deployment.nginx.accessLog().split('\n').filter(line => new RegExp(`/call/${room}[" ?]`).test(line))
  await until(() => resumes.every(({ room }) => linesOf(room).length === 3))
  for (const { room, token, instance } of resumes) {
    const lines = linesOf(room)
    t.notOk(lines.some(line => line.includes(token)), `${room}: no token in the access log`)
    t.same([...new Set(lines.map(line => line.split(' ').at(-1)))], [new URL(deployment.instances[instance].url).host],
      `${room}: the access log names one upstream, the room's instance`)
  }
})

t.test('the client address is the one nginx saw, not one the client wrote: per-address frame budgets', async t => {
  // A budget of 1 frame a second per client address, 4 at once.
  const limited = await startDeployment(t, redis, [...behindNginx, '--ip-message-rate', '1'])
  const room = freshRoom()
  // Both claim to come from 10.9.9.9; nginx replaces X-Forwarded-For with the address it saw.
  const forged = { 'x-forwarded-for': '10.9.9.9' }
  const a = await joinThrough(limited, `/call/${room}`, { from: '127.0.0.2', headers: forged })
  const b = await joinThrough(limited, `/call/${room}`, { from: '127.0.0.3', headers: forged })
  t.not(instanceOfPair([0, 0], await settledPeers(limited, 2)), -1, 'both on one instance: one process counts both budgets')
  const ask = async (peer: TestPeer, times: number): Promise<unknown[]> => {
    const codes = []
    for (let i = 0; i < times; i++) codes.push((await peer.get('/peerconnection', i)).code)
    return codes
  }
  const fourAnswered = ['success', 'success', 'success', 'success']
  t.same(await ask(a, 4), fourAnswered, '127.0.0.2 within its budget')
  // Shared with a's, this budget would be spent: refilling it takes 4 s.
  t.same(await ask(b, 4), fourAnswered, '127.0.0.3 has a budget of its own')
  t.ok((await ask(a, 4)).includes('failed'), '127.0.0.2 has spent its budget')
})

t.test('connections per client are capped at nginx (limit_conn 256), by the client\'s own address', async t => {
  const room = freshRoom()
  const peers: TestPeer[] = []
  // 128 rooms of two from 127.0.0.4, a few at a time.
  for (let i = 0; i < 128; i += 8) {
    const rooms = Array.from({ length: 8 }, (_, j) => `/call/${room}-${i + j}`)
    peers.push(...await Promise.all(rooms.flatMap(path => [0, 1].map(async () => await joinThrough(deployment, path, { from: '127.0.0.4' })))))
  }
  t.equal(peers.length, 256)
  t.same(await refusal(deployment, `/call/${room}-more`, { from: '127.0.0.4' }), { status: 429 }, 'the 257th from 127.0.0.4')
  t.same(await refusal(deployment, `/call/${room}-more`, { from: '127.0.0.5' }), { status: 101 }, 'another client')
  for (const peer of peers) peer.close()
})
