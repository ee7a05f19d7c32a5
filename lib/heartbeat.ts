import { randomBytes } from 'node:crypto'
import type WebSocket from 'ws'
import { Peer } from './peer.js'

/**
 * Liveness by ping and pong: every interval each peer is pinged, and a peer that did not
 * answer the previous ping is terminated (which the manager sees as a drop). Only a pong that
 * echoes the payload of the server's latest ping counts: a client that sends pongs of its own
 * accord, without reading, is not alive.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private payload = randomBytes(8)
  /** The 'pong' listener for every socket. */
  readonly onPong: (this: WebSocket, data: Buffer) => void

  /**
   * @param intervalMs milliseconds between pings; 0 turns heartbeats off
   * @param peers the peers to ping, read at each beat
   * @param missed called for a peer that is terminated, before it is
   */
  constructor (
    private readonly intervalMs: number,
    private readonly peers: Iterable<Peer>,
    private readonly missed: (peer: Peer) => void
  ) {
    const heartbeat = this
    this.onPong = function (data) {
      if (data.equals(heartbeat.payload)) Peer.of(this).alive = true
    }
  }

  /** Starts beating (unless turned off). */
  start (): void {
    if (this.intervalMs > 0) this.timer = setInterval(() => this.beat(), this.intervalMs).unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private beat (): void {
    // A fresh payload each beat: a pong can answer only the ping the peer read.
    this.payload = randomBytes(8)
    for (const peer of this.peers) {
      if (!peer.alive) {
        this.missed(peer)
        peer.socket.terminate()
        continue
      }
      peer.alive = false
      peer.socket.ping(this.payload)
    }
  }
}
