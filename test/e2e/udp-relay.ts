import dgram from 'node:dgram'
import { once } from 'node:events'
import type { BrowserContext } from 'playwright-core'

/**
 * A UDP relay on 127.0.0.1 that the media of a call must go through, like a NAT: each ICE
 * candidate a page receives is rewritten to a port of the relay, which forwards to the real
 * address (and the answers back). `cut()` is a network change: every port of the relay is
 * closed for good, so the paths ICE found never come back; only new candidates, which an ICE
 * restart brings, get new ports once `restore()` lets them.
 */
export class UdpRelay {
  /** How many relay ports were made so far, before and after cuts. */
  opened = 0
  private readonly ports = new Map<string, Promise<RelayPort>>()
  private down = false

  /** The relay port standing for a candidate's address, made if new; undefined while cut. */
  async portFor (address: string, port: number): Promise<number | undefined> {
    if (this.down) return undefined
    const key = `${address}:${port}`
    let relayPort = this.ports.get(key)
    if (relayPort === undefined) {
      relayPort = RelayPort.open(address, port)
      this.ports.set(key, relayPort)
      this.opened++
    }
    return (await relayPort).port
  }

  /** Closes every relay port and refuses new ones until restore(). */
  cut (): void {
    this.down = true
    for (const relayPort of this.ports.values()) void relayPort.then(p => p.close())
    this.ports.clear()
  }

  /** Lets new candidates through again (on new ports). */
  restore (): void {
    this.down = false
  }

  close (): void {
    this.cut()
  }

  /**
   * Makes every page of `context` (opened after this) send its media through the relay: the
   * remote candidates it is given, one by one or in a description, are rewritten to relay
   * ports (UDP over IPv4 only; others are dropped), and dropped while the relay is cut.
   */
  async install (context: BrowserContext): Promise<void> {
    await context.exposeFunction('relayPort', async (address: string, port: number) => await this.portFor(address, port))
    await context.addInitScript(() => {
      const relayPort = (window as unknown as { relayPort (address: string, port: number): Promise<number | undefined> }).relayPort
      const proto = RTCPeerConnection.prototype
      const addIceCandidate = proto.addIceCandidate as (this: RTCPeerConnection, candidate?: RTCIceCandidateInit) => Promise<void>
      // candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type> ...
      proto.addIceCandidate = async function (this: RTCPeerConnection, init?: RTCIceCandidateInit) {
        const fields = init?.candidate?.split(' ') ?? []
        if (fields.length < 8) return await addIceCandidate.call(this, init)
        if (fields[2].toLowerCase() !== 'udp' || fields[4].includes(':')) return
        const port = await relayPort(fields[4], Number(fields[5]))
        if (port === undefined) return
        fields[4] = '127.0.0.1'
        fields[5] = String(port)
        return await addIceCandidate.call(this, { ...init, candidate: fields.join(' ') })
      } as typeof proto.addIceCandidate
      const setRemoteDescription = proto.setRemoteDescription as (this: RTCPeerConnection, description?: RTCSessionDescriptionInit) => Promise<void>
      // Candidates gathered before the description was sent ride in its SDP: they go too.
      proto.setRemoteDescription = async function (this: RTCPeerConnection, description?: RTCSessionDescriptionInit) {
        const sdp = description?.sdp?.replace(/^a=candidate:.*\r\n/gm, '')
        return await setRemoteDescription.call(this, description === undefined ? description : { type: description.type, sdp })
      } as typeof proto.setRemoteDescription
    })
  }
}

/** One port of the relay, for one real address; a socket per source it hears from. */
class RelayPort {
  private readonly sources = new Map<string, dgram.Socket>()

  private constructor (private readonly socket: dgram.Socket, private readonly address: string, private readonly targetPort: number) {
    socket.on('message', (message, from) => this.source(from).send(message, this.targetPort, this.address))
    socket.on('error', () => {})
  }

  static async open (address: string, port: number): Promise<RelayPort> {
    const socket = dgram.createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    return new RelayPort(socket, address, port)
  }

  get port (): number {
    return this.socket.address().port
  }

  close (): void {
    this.socket.close()
    for (const socket of this.sources.values()) socket.close()
    this.sources.clear()
  }

  // What the target answers to the socket of a source goes back to that source, from this
  // port: the source sees the address it wrote to.
  private source (from: dgram.RemoteInfo): dgram.Socket {
    const key = `${from.address}:${from.port}`
    let socket = this.sources.get(key)
    if (socket === undefined) {
      socket = dgram.createSocket('udp4')
      socket.bind(0, '127.0.0.1')
      socket.on('message', message => this.socket.send(message, from.port, from.address))
      socket.on('error', () => {})
      this.sources.set(key, socket)
    }
    return socket
  }
}
