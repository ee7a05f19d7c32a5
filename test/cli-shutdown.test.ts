// The standalone server's exit code on SIGINT/SIGTERM (issue 11): 0 when the server closed
// cleanly, 1 with a fatal log line when closing failed or did not finish in time. The failures
// are a real Fastify server's own: an onClose hook that throws, one that never returns. A slow
// client cannot hold the shutdown.
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { join } from './helpers/client.js'
import { openSocket, startCli } from './helpers/cli.js'
import { shutdown } from '../lib/cli.js'

/**
 * A listening Fastify server whose log lines (level fatal and above) are kept in `lines`.
 * @param onClose a hook run when it closes
 */
async function server (t: Test, onClose?: () => Promise<void>): Promise<{ app: FastifyInstance, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>)
      done()
    }
  })
  const app = Fastify({ logger: { level: 'fatal', stream } })
  app.get('/', async () => 'up')
  if (onClose !== undefined) app.addHook('onClose', onClose)
  await app.listen({ host: '127.0.0.1', port: 0 })
  // A close that never finishes may leave the port open: close it underneath.
  t.teardown(() => { if (app.server.listening) app.server.close() })
  return { app, lines }
}

t.test('a clean close: exit code 0, nothing logged', async t => {
  const { app, lines } = await server(t)
  t.equal(await shutdown(app, 5000), 0)
  t.same(lines, [])
  t.notOk(app.server.listening, 'the server is closed')
})

t.test('a close that fails: exit code 1 and a fatal line saying why', async t => {
  const { app, lines } = await server(t, async () => { throw new Error('the store would not let go') })
  t.equal(await shutdown(app, 5000), 1)
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 60, msg: 'shutdown failed', err: { message: 'the store would not let go' } })
})

t.test('a close that never finishes: exit code 1 after the timeout, and a fatal line saying so', async t => {
  const { app, lines } = await server(t, async () => await new Promise(() => {}))
  t.equal(await shutdown(app, 300), 1)
  t.equal(lines.length, 1)
  t.match(lines[0], { level: 60, msg: 'shutdown did not finish within 0.3 s' })
})

t.test('SIGTERM while a client is still sending its request: the client is cut, the process exits 0', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q'])
  const peer = await join(`${cli.ws}/call/leaving`)
  const slow = openSocket(t, Number(new URL(cli.url).port))
  await slow.connected
  slow.socket.write('POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{')
  // Lets the server read the slow request's head: it answers one sent after it.
  await fetch(cli.url + 'health')
  cli.child.kill('SIGTERM')
  t.equal((await peer.closed).code, 1001, 'the peer hears the server go away')
  t.equal(await cli.exited, 0, 'a clean shutdown')
  await slow.closed
  t.notMatch(cli.stdout(), /shutdown did not finish/)
})
