import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'

/** What the primary of --workers sends a worker with each connection it hands over. */
export interface RoutedConnection {
  /** The bytes the primary read from the connection (its request line at least), as latin1. */
  rtcNotifyConnection: string
}

/** The response header naming the worker that answered (its slot). */
export const workerHeader = 'x-rtc-notify-worker'

function isRoutedConnection (message: unknown): message is RoutedConnection {
  return typeof (message as Partial<RoutedConnection> | null)?.rtcNotifyConnection === 'string'
}

/**
 * Makes a worker of --workers serve the connections the primary hands it (lib/room-router.ts)
 * on `app`'s HTTP server, which does not listen itself: each one as if the server had accepted
 * it, with the bytes the primary read put back in front. Call before `app.ready()`.
 *
 * Each connection carries one request, the one the primary routed it by: a second request on
 * it could be for a room of another worker. The response closes the connection, and Node
 * answers a request pipelined behind it 503 without handling it. The server's caps
 * hold: --max-connections is counted here (Node counts only what a listening server accepts),
 * --max-connections-per-ip by its own 'connection' listener.
 * @param slot the worker's slot, sent back in the `x-rtc-notify-worker` header of HTTP answers
 */
export function serveRoutedConnections (app: FastifyInstance, slot: number): void {
  const server = app.server
  server.maxRequestsPerSocket = 1
  server.prependListener('request', (_request, response) => {
    response.setHeader(workerHeader, String(slot))
    // maxRequestsPerSocket writes this header too, but then leaves the socket open until the
    // keep-alive timeout; set here, Node closes it once the response is sent.
    response.setHeader('connection', 'close')
  })
  let open = 0
  let closing = false
  const adopt = (message: unknown, socket: Socket | undefined): void => {
    // The socket may have closed on its way here.
    if (!isRoutedConnection(message) || socket === undefined) return
    if (closing) {
      socket.destroy()
      return
    }
    const cap = server.maxConnections
    if (cap !== undefined && cap > 0 && open >= cap) {
      socket.destroy()
      // Node's own event for a connection over maxConnections: the caps log it.
      server.emit('drop', { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily })
      return
    }
    open++
    socket.once('close', () => open--)
    socket.unshift(Buffer.from(message.rtcNotifyConnection, 'latin1'))
    server.emit('connection', socket)
  }
  app.addHook('onReady', async () => {
    // Node's HTTP server starts its headers and request timeouts (its connection tracking) when
    // it emits 'listening'; this one never listens, and needs them for the sockets it adopts.
    server.emit('listening')
    process.on('message', adopt)
  })
  app.addHook('preClose', async () => { closing = true })
}
