// --workers N without Redis: the primary reads each connection's request line and hands it to
// a worker, every handshake of a room to the same one (issue 14). Rooms live in each worker's
// memory, so a relay, a room-full refusal or a resume that works proves that both peers met in
// one process: were they split, each worker would see a room of one.
import t from 'tap'
import { handshakeStatus, join, type TestPeer } from './helpers/client.js'
import { openSocket, runCli, startCli, within, type RunningCli } from './helpers/cli.js'
import { everyWorkerHealth, workerHealth } from './helpers/workers.js'
import { closedWithin, openSession } from './redis/instances.js'
import { requestLineLimits, roomSlot } from '../lib/room-router.js'

const patience = 30_000
let rooms = 0
/** A room id no other test uses. */
function freshRoom (): string {
  return `routed-${process.pid}-${++rooms}`
}

/** Two peers of `room`, joined at `firstPath` and `secondPath` (the same room, spelled as a test likes). */
async function pair (cli: RunningCli, firstPath: string, secondPath = firstPath): Promise<[TestPeer, TestPeer]> {
  const first = await join(`${cli.ws}/call/${firstPath}`)
  const second = await join(`${cli.ws}/call/${secondPath}`)
  return [first, second]
}

/** Whether a NOTIFY goes from each peer to the other. */
async function relays (a: TestPeer, b: TestPeer): Promise<boolean> {
  a.send({ method: 'NOTIFY', data: 'ping' })
  b.send({ method: 'NOTIFY', data: 'pong' })
  try {
    const [atB, atA] = await Promise.all([b.next(3000), a.next(3000)])
    return atB.data === 'ping' && atA.data === 'pong'
  } catch {
    return false
  }
}

function portOf (cli: RunningCli): number {
  return Number(new URL(cli.url).port)
}

t.test('--workers 2 without Redis', async t => {
  // Peers of 200 rooms are 400 connections from 127.0.0.1, more than one worker takes by default.
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--workers', '2', '--no-demo', '-q', '--max-connections-per-ip', '0'])

  t.test('both peers of each of 200 rooms land on the same worker, the room\'s', async t => {
    const ids = Array.from({ length: 200 }, freshRoom)
    const pairs = await Promise.all(ids.map(async id => await pair(cli, id)))
    const relayed = await Promise.all(pairs.map(async ([a, b]) => await relays(a, b)))
    t.equal(relayed.filter(Boolean).length, 200, 'every room relays')
    const health = await everyWorkerHealth(cli.url, 2)
    for (const { slot, peers, rooms } of health) {
      const mine = ids.filter(id => roomSlot(id, 2) === slot).length
      t.same({ rooms, peers }, { rooms: mine, peers: 2 * mine }, `worker ${slot} holds its ${mine} rooms, both peers of each`)
    }
    for (const [a, b] of pairs) { a.close(); b.close() }
  })

  t.test('other requests go to the workers in turn', async t => {
    const slots = []
    for (let i = 0; i < 4; i++) slots.push((await workerHealth(cli.url)).slot)
    t.ok(slots[0] !== slots[1] && slots[0] === slots[2] && slots[1] === slots[3], `alternating: ${slots.join(', ')}`)
  })

  t.test('a room id is read as the plugin reads it: percent-decoded, NFC', async t => {
    for (let i = 0; i < 10; i++) {
      const id = freshRoom()
      const [a, b] = await pair(cli, `caf%C3%A9-${id}`, `cafe%CC%81-${id}`)
      t.ok(await relays(a, b), `é composed and decomposed (${id})`)
      const [c, d] = await pair(cli, `a%2Bb-${id}`, `a+b-${id}`)
      t.ok(await relays(c, d), `+ encoded and not (${id})`)
      for (const peer of [a, b, c, d]) peer.close()
    }
  })

  t.test('a third peer gets 400 (room full) from the room\'s worker', async t => {
    for (let i = 0; i < 10; i++) {
      const id = freshRoom()
      const [a, b] = await pair(cli, id)
      t.equal(await handshakeStatus(`${cli.ws}/call/${id}`), 400)
      a.close()
      b.close()
    }
  })

  t.test('a resume (?resume=) lands on the room\'s worker and resumes', async t => {
    for (let i = 0; i < 6; i++) {
      const id = freshRoom()
      const [a, b] = await pair(cli, id)
      const session = await openSession(a)
      await openSession(b)
      t.match(await b.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
      a.drop()
      t.match(await b.next(), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } })
      b.send({ method: 'NOTIFY', data: 'while you were away' })
      const back = await join(`${cli.ws}/call/${id}?resume=${session.token}`)
      t.same(await back.next(), { method: 'NOTIFY', data: 'while you were away' }, 'the queued frame')
      t.match(await b.next(), { method: 'PRESENCE', data: { state: 'back', peer: String } })
      t.ok(await relays(back, b), 'the call goes on')
      back.close()
      b.close()
    }
  })

  t.test('a head that arrives in pieces reaches the worker whole', async t => {
    // The request line, then the rest of the head as a separate write: the rest arrives while
    // the primary hands the socket over, and must not be read (and lost) there.
    const answers = await Promise.all(Array.from({ length: 100 }, async () => {
      const raw = openSocket(t, portOf(cli))
      await raw.connected
      raw.socket.setNoDelay(true)
      raw.socket.write('GET /health HTTP/1.1\r\n')
      setImmediate(() => raw.socket.write('Host: 127.0.0.1\r\n\r\n'))
      return await within(raw.closed, patience, 'answered')
    }))
    t.equal(answers.filter(answer => /^HTTP\/1\.1 200 /.test(answer)).length, 100, 'every request is answered 200')
  })

  t.test('one request per connection: a second one is never served by the first one\'s worker', async t => {
    const raw = openSocket(t, portOf(cli))
    await raw.connected
    raw.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    const answer = await within(raw.closed, patience, 'closed')
    t.match(answer, /^HTTP\/1\.1 200 [^]*connection: close/i, 'the first is answered, with Connection: close')
    t.equal(answer.match(/HTTP\/1\.1 200 /g)?.length, 1, 'the second is not answered 200')
  })

  t.test('a connection that sends no request line is answered 408; a line too long 414', async t => {
    const silent = openSocket(t, portOf(cli))
    await silent.connected
    t.match(await within(silent.closed, patience, 'silent socket closed'), /^HTTP\/1\.1 408 /)
    const long = openSocket(t, portOf(cli))
    await long.connected
    long.socket.write(`GET /call/${'x'.repeat(requestLineLimits.maxBytes)} HTTP/1.1\r\n`)
    t.match(await within(long.closed, patience, 'long line closed'), /^HTTP\/1\.1 414 /)
  })

  t.test('a worker applies the headers timeout to the head after the request line', async t => {
    const slow = openSocket(t, portOf(cli))
    await slow.connected
    slow.socket.write('GET /call/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    // Each line resets the 10 s idle timeout; only the headers timeout can end this.
    let lines = 0
    const dribble = setInterval(() => {
      if (slow.socket.writable && lines < 24) slow.socket.write(`X-Line-${++lines}: still typing\r\n`)
    }, 500)
    t.teardown(() => clearInterval(dribble))
    t.match(await within(slow.closed, 20_000, 'dribbling socket closed'), /^HTTP\/1\.1 408 /)
    t.ok(lines < 24, `closed while it was still sending (${lines} lines)`)
  })

  t.test('SIGTERM: peers hear 1001, exit 0', async t => {
    const peers = (await Promise.all([freshRoom(), freshRoom(), freshRoom(), freshRoom()].map(async id => await pair(cli, id)))).flat()
    cli.child.kill('SIGTERM')
    t.equal(await cli.exited, 0)
    for (const peer of peers) t.equal((await closedWithin(peer, 5000)).code, 1001)
  })
})

t.test('--workers with a tls: listener is a usage error', async t => {
  const result = await runCli(['--workers', '2', '-l', 'tls:127.0.0.1:0', '--certfile', 'cert.pem', '--keyfile', 'key.pem'])
  t.equal(result.code, 2)
  t.match(result.stderr, /^rtc-notify: --workers cannot serve a tls: listener .*terminate TLS at a proxy/)
})
