#!/usr/bin/env node
// The floor the bench compares against: a bare `ws` relay. Rooms of two at /call/<id>; each
// frame received is sent to the other socket untouched (no parsing, no validation, no rate
// limit, no logging). Same ws options as the project server: perMessageDeflate off,
// maxPayload 64 KiB. A third peer gets HTTP 400; when one peer leaves, the other is closed
// (1000) and the room is gone. Frames sent before the partner joined are held in a plain array
// and delivered when it joins (never on the measured path).
//
//   node bench/baseline-relay.js [--host 127.0.0.1] [--port 0]
// prints `baseline-relay listening on http://HOST:PORT/` on stdout.
import http from 'node:http'
import { parseArgs } from 'node:util'
import { WebSocketServer } from 'ws'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' }
  }
})

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 })
/** @type {Map<string, Array<{ws: import('ws').WebSocket | null, held: Array<[Buffer, boolean]>}>>} */
const rooms = new Map()
const callPath = /^\/call\/([A-Za-z0-9\-._~]{1,256})$/

function refuse (socket, status, text) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

const server = http.createServer((_req, res) => res.writeHead(404).end())

server.on('upgrade', (req, socket, head) => {
  const q = req.url.indexOf('?')
  const m = callPath.exec(q === -1 ? req.url : req.url.slice(0, q))
  if (m === null) return refuse(socket, 404, 'Not Found')
  const id = m[1]
  let room = rooms.get(id)
  if (room !== undefined && room.length >= 2) return refuse(socket, 400, 'Bad Request')
  if (room === undefined) rooms.set(id, room = [])
  const seat = { ws: null, held: [] }
  room.push(seat)
  const thisRoom = room
  // A handshake that never completes gives its seat back.
  const abandon = () => {
    const at = thisRoom.indexOf(seat)
    if (at !== -1) thisRoom.splice(at, 1)
    if (thisRoom.length === 0 && rooms.get(id) === thisRoom) rooms.delete(id)
  }
  socket.once('close', abandon)
  wss.handleUpgrade(req, socket, head, ws => {
    socket.removeListener('close', abandon)
    seat.ws = ws
    const partner = () => thisRoom[0] === seat ? thisRoom[1] : thisRoom[0]
    const other = partner()
    if (other !== undefined && other.held.length > 0) {
      for (const [data, isBinary] of other.held) ws.send(data, { binary: isBinary })
      other.held = []
    }
    ws.on('message', (data, isBinary) => {
      const to = partner()
      if (to !== undefined && to.ws !== null) to.ws.send(data, { binary: isBinary })
      else seat.held.push([data, isBinary])
    })
    ws.on('close', () => {
      if (rooms.get(id) === thisRoom) rooms.delete(id)
      const to = partner()
      thisRoom.length = 0
      if (to !== undefined && to.ws !== null) to.ws.close(1000, 'the other peer left')
    })
    ws.on('error', () => {})
  })
})

server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address()
  process.stdout.write(`baseline-relay listening on http://${address}:${port}/\n`)
})

const stop = () => {
  for (const ws of wss.clients) ws.close(1001, 'server shutting down')
  server.close()
  setTimeout(() => process.exit(0), 200).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
