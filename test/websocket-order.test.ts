// The plugin beside an app's own @fastify/websocket, registered before or after it: both work,
// and closing the app closes the plugin's peers with 1001 either way.
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import type WebSocket from 'ws'
import { handshakeStatus, join, until } from './helpers/client.js'
import { freshRoom } from './helpers/server.js'
import { notify } from '../lib/index.js'

type Order = 'websocket first' | 'plugin first' | 'plugin alone'

async function appWith (t: Test, order: Order): Promise<{ app: FastifyInstance, ws: string }> {
  const app = Fastify()
  const own = async (): Promise<void> => {
    await app.register(websocket)
    // The app's own WebSocket route, an echo.
    app.register(async scope => {
      scope.get('/echo', { websocket: true }, socket => { socket.on('message', data => socket.send(data.toString())) })
    })
  }
  if (order === 'websocket first') await own()
  await app.register(notify)
  if (order === 'plugin first') await own()
  app.get('/', async () => 'a page')
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  return { app, ws: `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` }
}

for (const order of ['websocket first', 'plugin first', 'plugin alone'] as const) {
  t.test(`${order}: calls relay, and app.close() closes the plugin's peers with 1001`, async t => {
    const { app, ws } = await appWith(t, order)
    const room = freshRoom()
    const a = await join(`${ws}/call/${room}`)
    const b = await join(`${ws}/call/${room}`)
    a.send({ method: 'NOTIFY', data: 'hi' })
    t.same(await b.next(), { method: 'NOTIFY', data: 'hi' })
    if (order !== 'plugin alone') {
      const echo = await join(`${ws}/echo`)
      echo.send({ method: 'ECHO' })
      t.same(await echo.next(), { method: 'ECHO' }, 'the app\'s own WebSocket route works too')
    }
    await app.close()
    t.equal((await a.closed).code, 1001)
    t.equal((await b.closed).code, 1001)
  })
}

t.test('an upgrade to a route that is not a WebSocket endpoint gets a plain HTTP error', async t => {
  const { ws } = await appWith(t, 'plugin alone')
  t.equal(await handshakeStatus(`${ws}/`), 404)
  t.equal(await handshakeStatus(`${ws}/nowhere`), 404)
})

for (const order of ['websocket first', 'plugin first'] as const) {
  t.test(`${order}: app.injectWS reaches the plugin's route`, async t => {
    const { app } = await appWith(t, order)
    const room = freshRoom()
    const a = await app.injectWS(`/call/${room}`)
    const b = await app.injectWS(`/call/${room}`)
    const received = new Promise<string>(resolve => b.once('message', (data: WebSocket.RawData) => resolve(data.toString())))
    a.send('{"method":"NOTIFY","data":"in process"}')
    t.equal(await received, '{"method":"NOTIFY","data":"in process"}')
    t.same(app.notify.stats(), { rooms: 1, peers: 2 })
    a.terminate()
    b.terminate()
    await until(() => app.notify.stats().peers === 0)
    await t.rejects(app.injectWS('/call/bad%2Fid'), /400/, 'a refused handshake is refused in process too')
    t.same(app.notify.stats(), { rooms: 0, peers: 0 })
  })
}

t.test('a handshake that fails after its seat was taken gives the seat back', async t => {
  const app = Fastify()
  // A hook of the app's that fails for every request, after the plugin's onRequest took a seat.
  app.addHook('preHandler', async () => { throw new Error('the app said no') })
  await app.register(websocket)
  await app.register(notify)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  t.equal(await handshakeStatus(`ws://127.0.0.1:${port}/call/${freshRoom()}`), 500)
  await t.rejects(app.injectWS(`/call/${freshRoom()}`), /500/)
  await until(() => app.notify.stats().peers === 0)
  t.same(app.notify.stats(), { rooms: 0, peers: 0 })
})
