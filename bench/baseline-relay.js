#!/usr/bin/env node
// The floors the bench compares against: a bare `ws` relay. Rooms at /call/<id>; each frame
// received is sent untouched to the other peers of the room (no validation, no rate limit, no
// logging). Same ws options as the project server: perMessageDeflate off, maxPayload 64 KiB.
//
// - rooms of two (the default): one peer leaving closes the other (1000) and ends the room;
// - `--room-size N`: rooms of N, each frame to every other peer (a group call's broadcast);
//   one peer leaving does not end the room for the others;
// - `--parse`: the validating floor: `JSON.parse` of each frame before it is relayed (the
//   original bytes are relayed), the least work any server that looks at a frame does.
//
// The peer N+1 gets HTTP 400. Frames sent while a peer is alone are held in a plain array and
// delivered to the next one to join (never on the measured path).
//
//   node bench/baseline-relay.js [--host 127.0.0.1] [--port 0] [--room-size 2] [--parse]
// prints `baseline-relay listening on http://HOST:PORT/` on stdout.
import http from 'node:http'
import { parseArgs } from 'node:util'
import { WebSocketServer } from 'ws'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    'room-size': { type: 'string', default: '2' },
    parse: { type: 'boolean', default: false }
  }
})
const roomSize = Number(values['room-size'])
if (!Number.isInteger(roomSize) || roomSize < 2 || roomSize > 64) {
  process.stderr.write('baseline-relay: --room-size must be a whole number from 2 to 64\n')
  process.exit(2)
}
const parse = values.parse

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 })
/** @type {Map<string, Array<{ws: import('ws').WebSocket | null, held: Array<[Buffer, boolean]>}>>} */
const rooms = new Map()
const callPath = /^\/call\/([A-Za-z0-9\-._~]{1,256})$/

function refuse (socket, status, text) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** Whether a frame is JSON text (a frame that is not is dropped, as any validating server would). */
function isJson (data) {
  try {
    JSON.parse(data.toString())
    return true
  } catch {
    return false
  }
}

const server = http.createServer((_req, res) => res.writeHead(404).end())

server.on('upgrade', (req, socket, head) => {
  const q = req.url.indexOf('?')
  const m = callPath.exec(q === -1 ? req.url : req.url.slice(0, q))
  if (m === null) return refuse(socket, 404, 'Not Found')
  const id = m[1]
  let room = rooms.get(id)
  if (room !== undefined && room.length >= roomSize) return refuse(socket, 400, 'Bad Request')
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
    for (const other of thisRoom) {
      if (other === seat || other.held.length === 0) continue
      for (const [data, isBinary] of other.held) ws.send(data, { binary: isBinary })
      other.held = []
    }
    ws.on('message', roomSize === 2 ? relayToPartner : broadcast)
    function relayToPartner (data, isBinary) {
      if (parse && !isJson(data)) return
      const to = thisRoom[0] === seat ? thisRoom[1] : thisRoom[0]
      if (to !== undefined && to.ws !== null) to.ws.send(data, { binary: isBinary })
      else seat.held.push([data, isBinary])
    }
    function broadcast (data, isBinary) {
      if (parse && !isJson(data)) return
      let sent = false
      for (const to of thisRoom) {
        if (to === seat || to.ws === null) continue
        to.ws.send(data, { binary: isBinary })
        sent = true
      }
      if (!sent) seat.held.push([data, isBinary])
    }
    ws.on('close', () => {
      if (roomSize > 2) return abandon()
      if (rooms.get(id) === thisRoom) rooms.delete(id)
      const to = thisRoom[0] === seat ? thisRoom[1] : thisRoom[0]
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
