import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { join, type TestPeer } from './client.js'
import { notify, type NotifyOptions } from '../../lib/index.js'

/** A running app with the plugin, and the ws:// base of its routes. */
export interface TestServer {
  app: FastifyInstance
  /** e.g. ws://127.0.0.1:1234 (append /call/<id>) */
  ws: string
  http: string
  /** ws URL of a room */
  room (id: string, query?: string): string
}

/**
 * Starts a real listening Fastify app with the plugin on a free port, closed when the test ends.
 * @param options plugin options
 * @param setup runs on the app before the plugin is registered
 */
export async function startServer (t: Test, options: NotifyOptions & { prefix?: string } = {}, setup?: (app: FastifyInstance) => Promise<void>): Promise<TestServer> {
  const app = Fastify({ logger: false })
  if (setup !== undefined) await setup(app)
  await app.register(notify, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const ws = `ws://127.0.0.1:${port}`
  const prefix = options.prefix ?? ''
  return {
    app,
    ws,
    http: `http://127.0.0.1:${port}`,
    room: (id, query) => `${ws}${prefix}/call/${id}${query === undefined ? '' : '?' + query}`
  }
}

let counter = 0
/** A room id no other test uses. */
export function freshRoom (): string {
  return `room-${process.pid}-${++counter}`
}

/** Two peers joined to a fresh room of `server`: `a` first, then `b`. */
export async function joinPair (server: TestServer): Promise<{ room: string, a: TestPeer, b: TestPeer }> {
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  return { room, a, b }
}
