// ICE configuration: static lists, functions of the request, TURN REST credentials.
import { createHmac } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { join } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'
import { turnCredentials } from '../lib/index.js'

interface IceServer { urls: string | string[], username?: string, credential?: string }

async function iceServersOf (url: string, options?: Parameters<typeof join>[1]): Promise<{ servers: IceServer[], session: string }> {
  const peer = await join(url, options)
  const session = await peer.get('/session')
  const answer = await peer.get('/peerconnection')
  const result = answer.result as { configuration: { iceServers: IceServer[] } }
  return { servers: result.configuration.iceServers, session: (session.result as { peer: string }).peer }
}

const hmac = (secret: string, username: string): string => createHmac('sha1', secret).update(username).digest('base64')

t.test('turn: each answer adds fresh REST API credentials for the asking peer', async t => {
  const server = await startServer(t, {
    iceServers: [{ urls: 'stun:stun.example.net' }],
    turn: { urls: ['turn:turn.example.net:3478?transport=udp', 'turns:turn.example.net:5349'], secret: 'north-secret', ttl: 600 }
  })
  const before = Math.floor(Date.now() / 1000)
  const { servers, session } = await iceServersOf(server.room(freshRoom()))
  const after = Math.floor(Date.now() / 1000)
  t.equal(servers.length, 2)
  t.same(servers[0], { urls: 'stun:stun.example.net' })
  const turn = servers[1]
  t.same(turn.urls, ['turn:turn.example.net:3478?transport=udp', 'turns:turn.example.net:5349'])
  const [expiry, peer] = turn.username!.split(':')
  t.equal(peer, session, 'the username names the peer')
  t.ok(Number(expiry) >= before + 600 && Number(expiry) <= after + 600, 'expires ttl seconds from now')
  t.equal(turn.credential, hmac('north-secret', turn.username!), 'credential = base64(HMAC-SHA1(secret, username))')
})

t.test('turn: with several secrets the first signs; the default ttl is a day', async t => {
  const server = await startServer(t, { turn: { urls: 'turn:t.example', secret: ['new-secret', 'old-secret'] } })
  const { servers } = await iceServersOf(server.room(freshRoom()))
  const turn = servers.at(-1)!
  t.equal(servers[0].urls, 'stun:stun.l.google.com:19302', 'the default STUN server stays')
  t.equal(turn.credential, hmac('new-secret', turn.username!))
  const expiry = Number(turn.username!.split(':')[0])
  t.ok(Math.abs(expiry - (Math.floor(Date.now() / 1000) + 86400)) <= 2)
})

t.test('turnCredentials is exported for apps that build their own lists', async t => {
  const entry = turnCredentials({ urls: 'turn:x', secret: 's', ttl: 10 }, 'peer1', 1_000_000)
  t.same(entry, { urls: 'turn:x', username: '1010:peer1', credential: hmac('s', '1010:peer1') })
})

t.test('iceServers as a function of the request and room id, sync or async', async t => {
  const seen: Array<{ room: string, region: unknown }> = []
  const server = await startServer(t, {
    iceServers: async (request: FastifyRequest, roomId: string) => {
      const region = (request.query as Record<string, unknown>).region
      seen.push({ room: roomId, region })
      return [{ urls: `stun:${String(region)}.example.net` }]
    },
    turn: { urls: 'turn:t.example', secret: 'x' }
  })
  const room = freshRoom()
  const { servers } = await iceServersOf(server.room(room, 'region=eu'))
  t.same(servers[0], { urls: 'stun:eu.example.net' })
  t.equal(servers.length, 2, 'TURN credentials are added to the function\'s list')
  t.same(seen, [{ room, region: 'eu' }])

  const sync = await startServer(t, { iceServers: (request: FastifyRequest) => [{ urls: `stun:${String(request.headers['x-user'])}.example` }] })
  const { servers: syncServers } = await iceServersOf(sync.room(freshRoom()), { headers: { 'x-user': 'ann' } })
  t.same(syncServers, [{ urls: 'stun:ann.example' }])
})
