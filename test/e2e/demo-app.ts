import { readFile } from 'node:fs/promises'
import type { Test } from 'tap'
import type { NotifyOptions } from '../../lib/index.js'
import { startServer, type TestServer } from '../helpers/server.js'

const demoPage = new URL('../../example/webrtc.html', import.meta.url)
const seedPage = new URL('./seed-page.html', import.meta.url)

/**
 * A plugin app that serves what the standalone server serves (the demo page at /, the client
 * at /client.js), with rooms of any size, and a page of the original protocol at /seed.html.
 * The demo page is told the room size the way a server can tell it (`<html data-room-size>`).
 * Run `npm run build` first: the client modules are served from dist/.
 * @param options plugin options (`roomSize` above all)
 */
export async function startDemoApp (t: Test, options: NotifyOptions = {}): Promise<TestServer> {
  let demo = await readFile(demoPage, 'utf8')
  if (typeof options.roomSize === 'number') demo = demo.replace('<html lang="en">', `<html lang="en" data-room-size="${options.roomSize}">`)
  const seed = await readFile(seedPage, 'utf8')
  return await startServer(t, { ...options, serveClient: true }, async app => {
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(demo))
    app.get('/seed.html', async (_request, reply) => reply.type('text/html; charset=utf-8').send(seed))
  })
}
