// The standalone server's socket timeouts (issue 10): a socket that sends nothing, dribbles its
// headers or never starts TLS is closed within seconds, not the 90 s and 120 s of Node's
// defaults; a WebSocket, once open, is out of their reach. Each test waits up to 30 s: it
// asserts that the socket is closed, not how fast.
import t from 'tap'
import { join, sleep } from './helpers/client.js'
import { makeCertificate, openSocket, startCli, within } from './helpers/cli.js'
import { socketTimeouts } from '../lib/server.js'

const patience = 30_000

function portOf (url: string): number {
  return Number(new URL(url).port)
}

t.test('a socket that never sends a byte is closed', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q'])
  const silent = openSocket(t, portOf(cli.url))
  await silent.connected
  t.match(await within(silent.closed, patience, 'silent socket closed'), /^HTTP\/1\.1 408 /, 'answered 408 and closed')
})

t.test('a socket that dribbles a header line every second is closed', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q'])
  const slow = openSocket(t, portOf(cli.url))
  await slow.connected
  slow.socket.write('GET /call/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  let lines = 0
  const dribble = setInterval(() => {
    if (slow.socket.writable) slow.socket.write(`X-Line-${++lines}: still typing\r\n`)
  }, 1000)
  t.teardown(() => clearInterval(dribble))
  t.match(await within(slow.closed, patience, 'dribbling socket closed'), /^HTTP\/1\.1 408 /)
  t.ok(lines > 0, `it had kept sending (${lines} lines)`)
})

t.test('tls: a connection that never sends a ClientHello is closed', async t => {
  const { cert, key } = makeCertificate(t)
  const cli = await startCli(t, ['-l', 'tls:127.0.0.1:0', '--certfile', cert, '--keyfile', key, '-q'])
  const silent = openSocket(t, portOf(cli.url))
  await silent.connected
  t.equal(await within(silent.closed, patience, 'socket without a ClientHello closed'), '', 'closed without a byte')
})

t.test('tls: a connection that finished its handshake and sends nothing is closed', async t => {
  const { cert, key } = makeCertificate(t)
  const cli = await startCli(t, ['-l', 'tls:127.0.0.1:0', '--certfile', cert, '--keyfile', key, '-q'])
  const silent = openSocket(t, portOf(cli.url), { tls: true })
  await silent.connected
  t.match(await within(silent.closed, patience, 'silent TLS socket closed'), /^HTTP\/1\.1 408 /)
})

t.test('an open WebSocket outlives every one of those timeouts', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q', '--heartbeat', '0'])
  const a = await join(`${cli.ws}/call/quiet-call`)
  const b = await join(`${cli.ws}/call/quiet-call`)
  let closed = false
  void a.closed.then(() => { closed = true })
  void b.closed.then(() => { closed = true })
  await sleep(Math.max(...Object.values(socketTimeouts)) + 2000)
  t.notOk(closed, 'neither peer was closed while the call was quiet')
  a.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'still here' })
})
