// The plugin in an app that already has the usual neighbours (issue 11): @fastify/cors,
// @fastify/helmet and a global @fastify/rate-limit registered first. Calls relay, GET is
// answered, the app's own routes keep their headers, and closing the app closes peers with 1001.
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import t from 'tap'
import { handshakeStatus, join } from './helpers/client.js'
import { freshRoom } from './helpers/server.js'
import { notify } from '../lib/index.js'

t.test('with cors, helmet and a global rate limit: calls relay and close with 1001', async t => {
  const app = Fastify()
  await app.register(cors, { origin: 'https://app.example' })
  await app.register(helmet)
  // Low enough that a test can reach it: the handshakes of this test count against it.
  await app.register(rateLimit, { max: 6, timeWindow: 60_000 })
  await app.register(notify)
  app.get('/api', async () => ({ ok: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  let closed = false
  t.teardown(async () => { if (!closed) await app.close() })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const ws = `ws://127.0.0.1:${port}`

  const api = await fetch(`http://127.0.0.1:${port}/api`, { headers: { origin: 'https://app.example' } })
  t.equal(api.headers.get('access-control-allow-origin'), 'https://app.example', 'cors still answers for the app')
  t.ok(api.headers.get('content-security-policy'), 'helmet still sets its headers')

  const room = freshRoom()
  const a = await join(`${ws}/call/${room}`)
  const b = await join(`${ws}/call/${room}`)
  a.send({ method: 'NOTIFY', data: { type: 'offer', sdp: 'v=0' } })
  t.same(await b.next(), { method: 'NOTIFY', data: { type: 'offer', sdp: 'v=0' } }, 'relayed')
  b.send({ method: 'GET', resource: '/peerconnection', msg_id: 1 })
  t.match(await b.next(), { msg_id: 1, code: 'success', result: { configuration: { iceServers: Array } } }, 'GET answered (docs/protocol.md, Frames)')

  // The app's global limit covers the upgrade requests too: the app decides, the plugin follows.
  let status = 0
  for (let i = 0; i < 10 && status !== 429; i++) status = await handshakeStatus(`${ws}/call/${freshRoom()}`)
  t.equal(status, 429, 'handshakes over the app\'s rate limit are refused by it')

  closed = true
  await app.close()
  t.equal((await a.closed).code, 1001)
  t.equal((await b.closed).code, 1001)
})
