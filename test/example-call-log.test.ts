// example/call-log.ts run as the README runs it: a process of its own, its port and secrets from
// the environment; real WebSocket clients join with the links it signs.
import { spawn } from 'node:child_process'
import t, { type Test } from 'tap'
import { handshakeStatus, join, until } from './helpers/client.js'
import { logLines } from './helpers/cli.js'

// The same TypeScript loader tap runs the tests with.
const typescriptLoader = import.meta.resolve('@tapjs/typescript/import')
const adminSecret = 'the-organizers-secret'

interface Running { http: string, ws: string, stdout: () => string }

async function startExample (t: Test, env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, ['--import', typescriptLoader, 'example/call-log.ts'], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill() })
  let out = ''
  let err = ''
  child.stderr.on('data', chunk => { err += String(chunk) })
  const http = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', chunk => {
      out += String(chunk)
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (match !== null) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited ${code}: ${out}${err}`)))
  })
  return { http, ws: http.replace('http', 'ws'), stdout: () => out }
}

interface Link { room: string, expiresAt: number, path: string }
interface Participant { userId: string, name: string, joinedAt: number, leftAt?: number, leftBecause?: string }
interface Call { room: string, startedAt: number, endedAt: number, durationMs: number, endedBecause: string, participants: Participant[] }

async function post (url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
}

t.test('example/call-log.ts: signed links, a call log from the events, an admin who closes rooms', async t => {
  const app = await startExample(t, { CALL_LINK_SECRET: 'link-signing-secret', ADMIN_SECRET: adminSecret })
  const link = async (body: Record<string, string>): Promise<Link> => {
    const answer = await post(`${app.http}/api/links`, body)
    t.equal(answer.status, 200)
    return await answer.json() as Link
  }
  const calls = async (): Promise<Call[]> => ((await (await fetch(`${app.http}/api/calls`)).json()) as { calls: Call[] }).calls
  const admin = { 'x-admin-secret': adminSecret }

  t.test('a call: links for two people, refused without a good one, logged when it ends', async t => {
    const ada = await link({ userId: 'u-ada', name: 'Ada' })
    const bob = await link({ room: ada.room, userId: 'u-bob', name: 'Bob' })
    t.equal(bob.room, ada.room)
    t.match(ada.path, new RegExp(`^/rtc/call/${ada.room}\\?token=`))
    t.ok(ada.expiresAt > Date.now() / 1000)

    const [payload, signature] = new URL(bob.path, app.http).searchParams.get('token')!.split('.')
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), name: 'Mallory' })).toString('base64url')
    const other = await link({ userId: 'u-cy', name: 'Cy' })
    t.equal(await handshakeStatus(`${app.ws}/rtc/call/${ada.room}?token=${forged}.${signature}`), 403, 'a token changed after signing')
    t.equal(await handshakeStatus(`${app.ws}/rtc/call/${ada.room}?token=${other.path.split('token=')[1]}`), 403, 'a token for another room')
    t.equal(await handshakeStatus(`${app.ws}/rtc/call/${ada.room}?token=garbage`), 403)
    t.equal(await handshakeStatus(`${app.ws}/rtc/call/${ada.room}`), 403, 'no token')

    const a = await join(app.ws + ada.path)
    const b = await join(app.ws + bob.path)
    a.send({ method: 'NOTIFY', data: { type: 'offer', sdp: 'v=0' } })
    t.same(await b.next(), { method: 'NOTIFY', data: { type: 'offer', sdp: 'v=0' } })
    t.same(await calls(), [], 'nothing logged while the call is on')
    a.close(1000)
    t.equal((await b.closed).code, 1000)
    await until(async () => (await calls()).length === 1)
    const [call] = await calls()
    t.match(call, { room: ada.room, endedBecause: 'peer-left', durationMs: Number })
    t.equal(call.durationMs, call.endedAt - call.startedAt)
    t.match(call.participants, [
      { userId: 'u-ada', name: 'Ada', joinedAt: Number },
      { userId: 'u-bob', name: 'Bob', joinedAt: Number }
    ])
    // Bob's leave is told after the room ended (his side of the call ended with it).
    await until(async () => (await calls())[0].participants.every(p => p.leftAt !== undefined))
    t.match((await calls())[0].participants, [{ leftBecause: 'hung-up' }, { leftBecause: 'call-ended' }])
    t.ok(logLines(app.stdout()).some(line => line.msg === 'call ended' && line.room === ada.room), 'and the app logged it')
  })

  t.test('the admin lists live rooms and closes one: its peers get 4004, the log says closed', async t => {
    const ada = await link({ userId: 'u-ada', name: 'Ada' })
    const bob = await link({ room: ada.room, userId: 'u-bob', name: 'Bob' })
    const a = await join(app.ws + ada.path)
    const b = await join(app.ws + bob.path)
    a.send({ method: 'NOTIFY', data: 'hello' })
    await b.next()

    t.equal((await fetch(`${app.http}/api/rooms`)).status, 401, 'admin only')
    t.equal((await fetch(`${app.http}/api/rooms`, { headers: { 'x-admin-secret': 'guess' } })).status, 401)
    const { rooms } = await (await fetch(`${app.http}/api/rooms`, { headers: admin })).json() as { rooms: Array<{ room: string, peers: unknown[] }> }
    t.match(rooms.find(r => r.room === ada.room), {
      peers: [{ userId: 'u-ada', name: 'Ada', state: 'connected' }, { userId: 'u-bob', name: 'Bob', state: 'connected' }]
    })

    t.equal((await post(`${app.http}/api/rooms/${ada.room}/close`)).status, 401, 'admin only')
    t.equal(a.socket.readyState, a.socket.OPEN, 'so the call goes on')
    t.equal((await post(`${app.http}/api/rooms/${ada.room}/close`, undefined, admin)).status, 204)
    t.same(await a.closed, { code: 4004, reason: 'closed by the organizer' })
    t.same(await b.closed, { code: 4004, reason: 'closed by the organizer' })
    t.equal((await post(`${app.http}/api/rooms/${ada.room}/close`, undefined, admin)).status, 404, 'no such room any more')
    await until(async () => (await calls()).some(call => call.room === ada.room))
    const call = (await calls())[0]
    t.match(call, { room: ada.room, endedBecause: 'closed', durationMs: Number })
    await until(async () => (await calls())[0].participants.every(p => p.leftAt !== undefined))
    t.match((await calls())[0].participants, [{ name: 'Ada', leftBecause: 'room-closed' }, { name: 'Bob', leftBecause: 'room-closed' }])
    const live = await (await fetch(`${app.http}/api/rooms`, { headers: admin })).json() as { rooms: Array<{ room: string }> }
    t.notOk(live.rooms.some(r => r.room === ada.room), 'no longer live')
  })

  t.test('a link is asked for as the API says', async t => {
    t.equal((await post(`${app.http}/api/links`, { name: 'no user id' })).status, 400)
    t.equal((await post(`${app.http}/api/links`, { userId: 'u', name: 'n', room: 'not/a/room' })).status, 400)
  })
})

t.test('example/call-log.ts will not start without its secrets', async t => {
  const child = spawn(process.execPath, ['--import', typescriptLoader, 'example/call-log.ts'], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', PORT: '0', CALL_LINK_SECRET: '', ADMIN_SECRET: 'x' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  child.stderr.on('data', chunk => { err += String(chunk) })
  t.equal(await new Promise(resolve => child.once('exit', resolve)), 1)
  t.match(err, /set CALL_LINK_SECRET/)
})
