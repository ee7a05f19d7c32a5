#!/usr/bin/env node
// PeerJS's server (npm `peer`), what users pick instead of this project, started the way its
// README starts it (`PeerServer({ port, path })`), on loopback, for the bench's side-by-side
// column. Its protocol, from its source: a WebSocket at `{path}peerjs?key=K&id=ID&token=T`;
// the server greets each client with `{"type":"OPEN"}`; a client sends
// `{"type":"OFFER"|"ANSWER"|"CANDIDATE","dst":"<id>","payload":...}` and the server parses it,
// adds `"src"` and sends `JSON.stringify({type,src,dst,payload})` to the peer `dst` (queued
// while that peer is not connected).
//
// Two of its defaults are lifted, as the project's own caps are for the bench: the concurrent
// client limit (5000, below the idle scenario's peers) and the 90 s liveness timeout (PeerJS
// clients send HEARTBEAT frames; the generator does not, as the project runs --heartbeat 0).
// Its other timers (checking liveness every 300 ms, expiring queued messages every second)
// run as they do for its users.
//
//   node bench/peerjs-server.js [--host 127.0.0.1] [--port 0]
// prints `peerjs-server listening on http://HOST:PORT/` on stdout.
import { parseArgs } from 'node:util'
import { PeerServer } from 'peer'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' }
  }
})

const hour = 3600 * 1000
let server
PeerServer({
  host: values.host,
  port: Number(values.port),
  path: '/',
  key: 'peerjs',
  concurrent_limit: 1000000,
  alive_timeout: hour
}, listening => {
  server = listening
  const { address, port } = listening.address()
  process.stdout.write(`peerjs-server listening on http://${address}:${port}/\n`)
})

const stop = () => {
  server?.closeAllConnections?.()
  server?.close()
  setTimeout(() => process.exit(0), 200).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
