// fastify.close() in a host app finishes whatever Redis does: with Redis hung, the peers hear
// 1001 and close resolves well before avvio's 10 s timeout.
import Fastify from 'fastify'
import t from 'tap'
import { notify } from '../../lib/index.js'
import { redisStore } from '../../lib/redis.js'
import { join } from '../helpers/client.js'
import { closedWithin } from './instances.js'
import { RedisServer } from './redis-server.js'

const closeBoundMs = 10_000

t.test('app.close() with Redis hung: resolves, and peers hear 1001', async t => {
  const redis = await RedisServer.start(t)
  t.teardown(() => { try { redis.resume() } catch {} })
  const app = Fastify({ logger: false })
  await app.register(notify, { store: redisStore({ url: redis.url }) })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const peer = await join(`ws://127.0.0.1:${port}/call/close-hung`)
  const partner = await join(`ws://127.0.0.1:${port}/call/close-hung`)
  partner.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await peer.next(), { method: 'NOTIFY', data: 'hello' })

  redis.pause()
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    app.close().then(() => 'closed', (err: Error) => `failed: ${err.message}`),
    new Promise<string>(resolve => { timer = setTimeout(() => resolve('still closing'), closeBoundMs) })
  ])
  clearTimeout(timer)
  t.equal(outcome, 'closed', `app.close() resolves within ${closeBoundMs / 1000} s`)
  t.equal((await closedWithin(peer, 1000)).code, 1001, 'the peer heard "going away"')
  t.equal((await closedWithin(partner, 1000)).code, 1001)
})
