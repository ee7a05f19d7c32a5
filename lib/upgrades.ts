import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import type WebSocket from 'ws'
import { closingResponse } from './raw-response.js'

/** How the plugin's route gets its WebSockets. */
export interface Upgrades {
  /** Called for each socket the route accepts, before anything else is done with it. */
  adopt (socket: WebSocket): void
}

/**
 * Arranges for WebSocket upgrades to reach the plugin's routes, whatever the app does with
 * @fastify/websocket, before or after registering the plugin, and so that closing the app
 * closes the plugin's peers with 1001 (the plugin's own preClose), never without a code.
 *
 * - The app registered @fastify/websocket before the plugin: its `onRoute` hook already wraps
 *   every route registered later, the plugin's too, and its `upgrade` listener routes them.
 *   Its `preClose` closes every socket in its server's `clients` (without a code): the
 *   plugin's sockets are taken out of that set as they come.
 * - Otherwise the plugin registers its own @fastify/websocket inside its routes' encapsulated
 *   context (`routes`), so no decorator reaches the app: the app may still register
 *   @fastify/websocket afterwards. That one listens for upgrades on a private emitter, and
 *   gets them from the HTTP server unless the app registered its own @fastify/websocket later
 *   (whose `upgrade` listener then routes them all, through Fastify's one router).
 * @param fastify the app (the plugin's own, unencapsulated context)
 * @param routes the encapsulated context that will hold the plugin's routes
 * @param options ws options for a server of the plugin's own
 * @param isOurs whether an upgrade's path is one of the plugin's routes
 */
export async function arrangeUpgrades (
  fastify: FastifyInstance,
  routes: FastifyInstance,
  options: { maxPayload: number },
  isOurs: (url: string) => boolean
): Promise<Upgrades> {
  if (fastify.hasDecorator('websocketServer')) {
    const clients = fastify.websocketServer.clients
    return { adopt: socket => clients.delete(socket) }
  }
  const upgrades = new EventEmitter()
  await routes.register(websocket, {
    options: { maxPayload: options.maxPayload, perMessageDeflate: false, server: upgrades as never },
    // The plugin closes its own peers (1001) in its own preClose.
    preClose: done => done(),
    errorHandler: (error, socket) => {
      fastify.log.error({ err: error }, 'websocket handler failed')
      socket.terminate()
    }
  })
  const server = fastify.server
  const forward = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = request.url ?? ''
    if (isOurs(url)) upgrades.emit('upgrade', request, socket, head)
    // Anything else gets a plain HTTP answer, rather than an upgrade that closes at once.
    else if (url.startsWith('/')) refuse(socket, 404, 'no WebSocket endpoint is here')
    else refuse(socket, 400, 'the request target must be a path')
  }
  fastify.addHook('onReady', async () => {
    if (server.listenerCount('upgrade') === 0) server.on('upgrade', forward)
  })
  fastify.addHook('onClose', async () => {
    server.removeListener('upgrade', forward)
  })
  return { adopt: () => {} }
}

function refuse (socket: Duplex, status: number, text: string): void {
  socket.end(closingResponse(status, text, { 'Content-Type': 'text/plain; charset=utf-8' }))
}
