// docs/protocol.md#the-handshake: room full (racing too), allow-lists, room ids, prefix. Real server.
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { handshakeStatus, join, TestPeer, until } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'

t.test('a third peer is refused with 400 before any upgrade', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  const a = await join(server.room(room))
  const b = await join(server.room(room))
  t.equal(await handshakeStatus(server.room(room)), 400)
  a.send({ method: 'NOTIFY', data: 'still here' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'still here' }, 'the two in the room are undisturbed')
})

t.test('the refusal says why, as JSON', async t => {
  const server = await startServer(t)
  const room = freshRoom()
  await join(server.room(room))
  await join(server.room(room))
  const body = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = http.get(`${server.http}/call/${room}`, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' }
    })
    req.on('response', res => {
      let text = ''
      res.on('data', chunk => { text += String(chunk) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
  })
  t.equal(body.status, 400)
  t.match(JSON.parse(body.body), { code: 'FST_RTC_NOTIFY_ROOM_FULL', message: 'room is full' })
})

t.test('racing joins never put three peers in a room', async t => {
  const server = await startServer(t)
  for (let round = 0; round < 5; round++) {
    const room = freshRoom()
    const racers = Array.from({ length: 8 }, () => new TestPeer(server.room(room)))
    const outcomes = await Promise.allSettled(racers.map(async p => await p.opened))
    const admitted = outcomes.filter(o => o.status === 'fulfilled').length
    t.equal(admitted, 2, `round ${round}: exactly two of eight get in`)
    for (const [i, o] of outcomes.entries()) {
      if (o.status === 'rejected') t.match(o.reason.message, 'HTTP 400')
      else racers[i].close()
    }
    await until(() => server.app.notify.stats().peers === 0)
  }
})

t.test('a seat whose upgrade never completes is given back', async t => {
  let gate: (() => void) | undefined
  let gated = false
  const server = await startServer(t, {
    authorize: async () => {
      if (gated) await new Promise<void>(resolve => { gate = resolve })
      return true
    }
  })
  const room = freshRoom()
  const address = new URL(server.http)
  const handshake = (key: string): net.Socket => {
    const socket = net.connect(Number(address.port), address.hostname)
    socket.write(`GET /call/${room} HTTP/1.1\r\nHost: ${address.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`)
    return socket
  }

  // ws refuses the upgrade after the hooks took a seat (a malformed key): 400, socket closed.
  const refused = handshake('not-a-valid-key')
  const answer = await new Promise<string>(resolve => refused.once('data', data => resolve(String(data))))
  t.match(answer, /^HTTP\/1.1 400/)
  await until(() => server.app.notify.stats().peers === 0)

  // The client vanishes while the hooks are still deciding.
  gated = true
  const vanishing = handshake('dGhlIHNhbXBsZSBub25jZQ==')
  await until(() => gate !== undefined)
  vanishing.destroy()
  await new Promise(resolve => vanishing.once('close', resolve))
  gated = false
  gate?.()
  await until(() => server.app.notify.stats().peers === 0)

  const a = await join(server.room(room))
  const b = await join(server.room(room))
  a.send({ method: 'NOTIFY', data: 1 })
  t.same(await b.next(), { method: 'NOTIFY', data: 1 }, 'two real peers fit after the abandoned handshakes')
})

t.test('paths allow-list: any other path is 404', async t => {
  const server = await startServer(t, { paths: ['/call/lobby', '/call/desk'] })
  t.equal(await handshakeStatus(server.room('lobby')), 101)
  t.equal(await handshakeStatus(server.room('desk')), 101)
  t.equal(await handshakeStatus(server.room('other')), 404)
  t.equal(await handshakeStatus(server.room('lobby', 'x=1')), 101, 'the query string is not part of the path')
  t.equal(await handshakeStatus(`${server.ws}/elsewhere`), 404)
})

t.test('hosts allow-list: another Host, or none, is 403', async t => {
  const server = await startServer(t, { hosts: ['signal.example.com', 'localhost:8080'] })
  const url = server.room(freshRoom())
  t.equal(await handshakeStatus(url, { headers: { Host: 'signal.example.com' } }), 101)
  t.equal(await handshakeStatus(url, { headers: { Host: 'LOCALHOST:8080' } }), 101, 'case-insensitive')
  t.equal(await handshakeStatus(url, { headers: { Host: 'evil.example.com' } }), 403)
  t.equal(await handshakeStatus(url), 403, 'the real host:port is not listed')
})

t.test('origins allow-list: another Origin is 403, no Origin is allowed', async t => {
  const server = await startServer(t, { origins: ['https://app.example.com'] })
  const url = server.room(freshRoom())
  t.equal(await handshakeStatus(url, { origin: 'https://app.example.com' }), 101)
  t.equal(await handshakeStatus(url, { origin: 'https://evil.example.com' }), 403)
  t.equal(await handshakeStatus(url), 101, 'a client without an Origin header')
})

t.test('no allow-lists: everything goes', async t => {
  const server = await startServer(t)
  t.equal(await handshakeStatus(server.room(freshRoom()), { origin: 'https://anything.example', headers: { Host: 'x' } }), 101)
})

t.test('room ids: empty, too long, a "/" or a control character are 400', async t => {
  const server = await startServer(t)
  t.equal(await handshakeStatus(`${server.ws}/call/`), 400, 'empty')
  t.equal(await handshakeStatus(server.room('a'.repeat(256))), 101, '256 characters')
  t.equal(await handshakeStatus(server.room('a'.repeat(257))), 400, '257 characters')
  t.equal(await handshakeStatus(server.room('%C3%A9'.repeat(256))), 101, '256 characters of two bytes each')
  for (const id of ['a%2Fb', 'a/b', 'a%00', 'a%0Ab', 'a%7F', '%C2%85']) {
    t.equal(await handshakeStatus(server.room(id)), 400, id)
  }
  for (const id of ['A-z_0.9~', '1234', 'x', 'a%20b', 'My%20Room', 'Caf%C3%A9', '%C3%BC', 'a@b', "it's", 'a!b', '%F0%9F%93%9E']) {
    t.equal(await handshakeStatus(server.room(id)), 101, id)
  }
})

t.test('the same room id in two spellings is one room', async t => {
  const server = await startServer(t)
  const spellings = [['a@b', 'a%40b'], ['Caf%C3%A9', 'Cafe%CC%81'], ['My%20Room', 'My%20%52oom'], ['~x', '%7Ex']]
  for (const [first, second] of spellings) {
    const a = await join(server.room(first))
    const b = await join(server.room(second))
    a.send({ method: 'NOTIFY', data: first })
    t.same(await b.next(), { method: 'NOTIFY', data: first }, `${first} and ${second}`)
    t.equal(await handshakeStatus(server.room(first)), 400, 'a third spelling finds the room full')
    a.close()
    await b.closed
  }
})

t.test('two Host headers, or a target that is not a path, are 400', async t => {
  const server = await startServer(t)
  const port = new URL(server.http).port
  const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  const status = async (head: string): Promise<number> => await new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(head + upgrade + '\r\n'))
    socket.once('data', data => { socket.destroy(); resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(String(data))?.[1])) })
    socket.once('error', reject)
  })
  const room = freshRoom()
  t.equal(await status(`GET /call/${room} HTTP/1.1\r\nHost: 127.0.0.1\r\n`), 101, 'one Host: upgraded')
  t.equal(await status(`GET /call/${freshRoom()} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n`), 400, 'two Host headers')
  t.equal(await status(`GET http://evil.example/call/${freshRoom()} HTTP/1.1\r\nHost: 127.0.0.1\r\n`), 400, 'absolute-form target')
})

t.test('resume may be given once', async t => {
  const server = await startServer(t)
  t.equal(await handshakeStatus(server.room(freshRoom(), 'resume=a&resume=b')), 400)
  t.equal(await handshakeStatus(server.room(freshRoom(), 'resume=')), 400)
})
