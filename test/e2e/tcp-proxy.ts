import net from 'node:net'
import { once } from 'node:events'

/**
 * A TCP proxy to a local port that can cut its connections the hard way: the browser's side
 * gets a reset, the server's side loses the connection without a WebSocket close frame, as
 * when a phone's network changes. While cut, new connections are reset at once.
 */
export class TcpProxy {
  /** Connections reset on arrival while the proxy was cut. */
  refused = 0
  private readonly pairs = new Set<[net.Socket, net.Socket]>()
  private down = false

  private constructor (private readonly server: net.Server, private readonly targetPort: number) {
    server.on('connection', socket => this.accept(socket))
  }

  /** Starts a proxy on a free port of 127.0.0.1 to `targetPort` there. */
  static async start (targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(net.createServer(), targetPort)
    proxy.server.listen(0, '127.0.0.1')
    await once(proxy.server, 'listening')
    return proxy
  }

  get port (): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** Resets every connection and refuses new ones until restore(). */
  cut (): void {
    this.down = true
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy()
      upstream.destroy()
    }
    this.pairs.clear()
  }

  /** Lets connections through again. */
  restore (): void {
    this.down = false
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise(resolve => this.server.close(resolve))
  }

  private accept (client: net.Socket): void {
    if (this.down) {
      this.refused++
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1')
    const pair: [net.Socket, net.Socket] = [client, upstream]
    this.pairs.add(pair)
    const end = (): void => {
      this.pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  }
}
