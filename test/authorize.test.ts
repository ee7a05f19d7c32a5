// The authorize option: run before the upgrade and before a seat is taken.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { handshakeStatus, join } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'

t.test('false or a thrown error refuses with 403; an error may carry its own status', async t => {
  const server = await startServer(t, {
    authorize: async (request: FastifyRequest) => {
      const user = request.headers['x-user']
      if (user === 'nobody') throw Object.assign(new Error('who are you?'), { statusCode: 401 })
      if (user === 'broken') throw new Error('database down')
      return user === 'ann'
    }
  })
  const url = server.room(freshRoom())
  t.equal(await handshakeStatus(url, { headers: { 'x-user': 'ann' } }), 101)
  t.equal(await handshakeStatus(url, { headers: { 'x-user': 'bob' } }), 403)
  t.equal(await handshakeStatus(url, { headers: { 'x-user': 'nobody' } }), 401)
  t.equal(await handshakeStatus(url, { headers: { 'x-user': 'broken' } }), 403)
  t.equal(await handshakeStatus(url), 403)
})

t.test('a refused handshake takes no seat', async t => {
  const server = await startServer(t, { authorize: (request: FastifyRequest) => request.headers['x-user'] === 'ann' })
  const room = freshRoom()
  for (let i = 0; i < 5; i++) t.equal(await handshakeStatus(server.room(room)), 403)
  t.same(server.app.notify.stats(), { rooms: 0, peers: 0 })
  const a = await join(server.room(room), { headers: { 'x-user': 'ann' } })
  const b = await join(server.room(room), { headers: { 'x-user': 'ann' } })
  a.send({ method: 'NOTIFY', data: 'in' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'in' })
})

t.test('the README example: a signed, expiring token in the query string', async t => {
  const secret = 'app-secret'
  // The app signs "<room>.<expiry>" when it hands out a call link.
  const sign = (room: string, expiry: number): string =>
    `${expiry}.${createHmac('sha256', secret).update(`${room}.${expiry}`).digest('base64url')}`
  const authorize = (request: FastifyRequest, roomId: string): boolean => {
    const token = (request.query as { token?: string }).token ?? ''
    const [expiry, signature = ''] = token.split('.')
    if (!(Number(expiry) > Date.now() / 1000)) return false
    const expected = Buffer.from(sign(roomId, Number(expiry)).split('.')[1])
    const given = Buffer.from(signature)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
  const server = await startServer(t, { authorize })
  const room = freshRoom()
  const later = Math.floor(Date.now() / 1000) + 60
  t.equal(await handshakeStatus(server.room(room, `token=${sign(room, later)}`)), 101)
  t.equal(await handshakeStatus(server.room(room, `token=${sign('other-room', later)}`)), 403, 'signed for another room')
  t.equal(await handshakeStatus(server.room(room, `token=${sign(room, later - 120)}`)), 403, 'expired')
  t.equal(await handshakeStatus(server.room(room, 'token=garbage')), 403)
  t.equal(await handshakeStatus(server.room(room)), 403)
})
