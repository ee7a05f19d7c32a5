import type { Worker } from 'node:cluster'
import { createHash } from 'node:crypto'
import type { Server as HttpServer } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { capConnections } from './connection-caps.js'
import { roomOf } from './handshake.js'
import { closingResponse } from './raw-response.js'
import { readRequestLine, type RequestLineLimits } from './request-line.js'
import type { RoutedConnection } from './routed-connections.js'

/**
 * How much of a request line the primary reads, and for how long. A room's line is at most
 * about 3.2 KB (an id of 256 characters, each up to 12 bytes percent-encoded, and a resume
 * token); Node's HTTP server would answer a slower client 408 within its headers timeout.
 */
export const requestLineLimits: RequestLineLimits = { maxBytes: 8192, timeoutMs: 2000 }

/**
 * The slot of the worker that holds a room: the same for every handshake of the room while
 * the number of slots stays the same.
 * @param roomId the room id as the plugin reads it (percent-decoded, NFC)
 */
export function roomSlot (roomId: string, slots: number): number {
  return createHash('sha256').update(roomId).digest().readUInt32BE(0) % slots
}

/** What the router needs to know of the server it fronts. */
export interface RoomRouterOptions {
  /** How many workers there are; each has a slot, 0 to slots - 1. */
  slots: number
  logLevel: string
  /** The caps on connections, applied here to those whose request line is being read. */
  caps: { total: number, perAddress: number }
}

/**
 * The primary's side of --workers: it accepts the TCP connections itself, reads each one's
 * request line, and hands the socket, with the bytes it read, to a worker: the worker of the
 * room for a handshake at /call/<id> (whatever its query, so that a resume meets its room), any
 * worker in turn for every other request. Then both peers of a room are always in the same
 * process, and a room never leaves its worker.
 */
export class RoomRouter {
  readonly #app: FastifyInstance
  readonly #server: Server
  readonly #workers: Array<Worker | undefined>
  readonly #reading = new Set<Socket>()
  #next = 0

  /**
   * Builds a router; no worker is attached and nothing listens yet.
   * @see RoomRouter.create
   */
  private constructor (app: FastifyInstance, options: RoomRouterOptions) {
    this.#app = app
    this.#workers = new Array<Worker | undefined>(options.slots).fill(undefined)
    // Paused: nothing is read before the caps had their say.
    this.#server = createServer({ pauseOnConnect: true }, socket => this.#accept(socket))
    // capConnections only uses what an http.Server has of a net.Server.
    capConnections(this.#server as HttpServer, options.caps, app.log)
  }

  /**
   * A router for `options.slots` workers. It reads room ids with a Fastify router holding the
   * plugin's route (`/call/*`), so that an id is decoded exactly as the workers will decode it,
   * and logs through that Fastify's logger; that Fastify never listens.
   */
  static async create (options: RoomRouterOptions): Promise<RoomRouter> {
    const app = Fastify({ logger: { level: options.logLevel } })
    app.get('/call/*', async () => undefined)
    await app.ready()
    return new RoomRouter(app, options)
  }

  /** Sends the connections of slot `slot` to `worker` from now on. */
  attach (slot: number, worker: Worker): void {
    this.#workers[slot] = worker
  }

  /** Stops sending connections to the worker in `slot` (it died): its rooms get 503 until another is attached. */
  detach (slot: number): void {
    this.#workers[slot] = undefined
  }

  /**
   * Starts accepting connections.
   * @returns the port it listens on (the one the system chose for port 0)
   */
  async listen (host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen({ host, port }, () => {
        this.#server.removeListener('error', reject)
        resolve()
      })
    })
    // A failed accept (out of file descriptors): that connection is lost, the others go on.
    this.#server.on('error', err => this.#app.log.error({ err }, 'a connection could not be accepted'))
    const address = this.#server.address()
    return typeof address === 'object' && address !== null ? address.port : port
  }

  /** Stops accepting connections and closes those whose request line was not read yet. */
  async close (): Promise<void> {
    // The listening socket closes at once; 'close' itself waits for the sockets the workers hold.
    if (this.#server.listening) this.#server.close()
    for (const socket of this.#reading) socket.destroy()
    await this.#app.close()
  }

  #accept (socket: Socket): void {
    // Already closed by a cap.
    if (socket.destroyed) return
    this.#reading.add(socket)
    socket.once('close', () => this.#reading.delete(socket))
    readRequestLine(socket, requestLineLimits, ({ head, target }) => {
      this.#reading.delete(socket)
      const room = target === undefined ? undefined : this.#roomAt(target)
      const worker = room === undefined ? this.#anyWorker() : this.#workers[roomSlot(room, this.#workers.length)]
      if (worker === undefined) return unavailable(socket)
      this.#handOver(worker, socket, head)
    })
  }

  /** The room a request target names, read as the plugin's route reads it; undefined for any other target. */
  #roomAt (target: string): string | undefined {
    const id = (this.#app.findRoute({ method: 'GET', url: target })?.params as { '*'?: string } | undefined)?.['*']
    return id === undefined ? undefined : roomOf(id)
  }

  /** The workers in turn, skipping an empty slot. */
  #anyWorker (): Worker | undefined {
    for (let i = 0; i < this.#workers.length; i++) {
      const worker = this.#workers[this.#next]
      this.#next = (this.#next + 1) % this.#workers.length
      if (worker !== undefined) return worker
    }
    return undefined
  }

  #handOver (worker: Worker, socket: Socket, head: Buffer): void {
    const message: RoutedConnection = { rtcNotifyConnection: head.toString('latin1') }
    // keepOpen: the primary closes its copy once the send is done (not when the worker
    // acknowledges it, as Node would), so that the socket's 'close' lets the caps count it out;
    // closing a copy leaves the connection to the worker's. A send that failed (the worker has
    // just died) sent nothing.
    worker.send(message, socket, { keepOpen: true }, err => {
      if (err === null) socket.destroy()
      else unavailable(socket)
    })
  }
}

/** Tells a client that the worker its request belongs to is not there (it died, another is starting). */
function unavailable (socket: Socket): void {
  socket.write(closingResponse(503, '', { 'Retry-After': '1' }))
  socket.destroy()
}
