/**
 * A WebRTC call in a room, on top of the signaling client: one RTCPeerConnection per remote
 * peer (client-peer.ts), trickle ICE, the server's ICE configuration, and recovery after a
 * network change.
 *
 * Two kinds of room (docs/protocol.md):
 * - a two-party room (the original protocol) has one other peer and no addressing. Each side
 *   says hello (`{ type: 'hello', peer }`) when it is ready, which tells the other one that it
 *   is there and which id to compare for the polite role. A seed page says hello without an id,
 *   or not at all when it is the caller (it offers after the other side's hello): this side
 *   is then the impolite one, which makes the first offer (a seed callee waits for it) and
 *   never gives way (a seed page would not either).
 * - a group room tells each peer who it is and who is there (ROOM), and who comes and goes
 *   (PRESENCE); signals are addressed with `to` and arrive with `from`. Every pair of peers
 *   has its own connection; the peer with the smaller id is the polite one.
 */

import {
  connect, type CloseDetail, type ConnectOptions, type NotifyClient, type NotifyEvent, type PresenceEvent, type RoomInfo
} from './client-notify.js'
import { RemotePeer, isCandidate, isDescription, type PeerOwner } from './client-peer.js'

/** Options of `joinCall()`: where the room is, what to send, and the signaling options. */
export interface JoinCallOptions extends ConnectOptions {
  /** The room's id. */
  roomId: string
  /**
   * Where the server's routes start (default: the page's origin; `'/rtc'` when the plugin is
   * registered with that prefix; `'https://example.org/rtc'` on another host).
   */
  url?: string | URL
  /** The local media to send to every peer (e.g. from `getUserMedia`); without it, the call only receives. */
  stream?: MediaStream
  /** RTCPeerConnection settings laid over the server's configuration (its ICE servers). */
  configuration?: RTCConfiguration
}

/** The events of a Call; `CustomEvent.detail` carries the payload. */
export interface CallEventMap {
  /** A remote peer is in the call: `detail.stream` receives its media as its tracks arrive. */
  peer: CustomEvent<RemotePeer>
  /** A remote peer left (or the call ended): its connection is closed. */
  'peer-left': CustomEvent<RemotePeer>
  /** A remote peer's connection state changed, or it lost or regained its signaling connection (`away`). */
  'peer-state': CustomEvent<RemotePeer>
  /** The call is over (this side left, the other side of a two-party call hung up, the server ended it). */
  ended: CustomEvent<CloseDetail>
  /** Negotiating with a peer went wrong; the call goes on. */
  error: CustomEvent<unknown>
}

// The data of a two-party room's hello.
interface Hello { type: 'hello', peer?: unknown }

function isHello (data: unknown): data is Hello {
  return (data as { type?: unknown } | null)?.type === 'hello'
}

// The id of a two-party room's other peer when it never says one: a page of the original protocol.
const unnamedPartner = 'partner'

export interface Call {
  addEventListener<K extends keyof CallEventMap>(type: K, listener: (this: Call, event: CallEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void
  removeEventListener<K extends keyof CallEventMap>(type: K, listener: (this: Call, event: CallEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void
  removeEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void
}

/** A call in a room. Make one with `joinCall()`. */
export class Call extends EventTarget {
  private readonly links = new Map<string, RemotePeer>()
  private configuration: RTCConfiguration = {}
  private selfId = ''
  private group = false
  private over = false
  // Events that arrive before the call knows its configuration and the kind of room wait here.
  private waiting: Array<() => void> | undefined = []
  // A two-party room: the other peer's id as PRESENCE named it, for a partner that never says it.
  private presenceHint: string | undefined
  private readonly owner: PeerOwner = {
    signal: (peer, data) => { this.client.notify(data, this.group ? { to: peer.peerId } : {}) },
    changed: peer => { if (this.links.get(peer.peerId) === peer) this.emit('peer-state', peer) },
    failed: (_peer, error) => this.emit('error', error)
  }

  /**
   * Listens to the client at once, so that nothing it receives is missed, and starts the call
   * when the configuration comes; prefer `joinCall()`.
   * @param client the signaling client, just connected
   * @param localStream the media to send
   * @param configuration the RTCPeerConnection configuration, once the server gave it: a group
   *   room's ROOM frame came before that answer, so the kind of room is known by then
   */
  constructor (readonly client: NotifyClient, readonly localStream: MediaStream | undefined, configuration: Promise<RTCConfiguration>) {
    super()
    client.addEventListener('notify', event => this.whenStarted(() => this.notified(event)))
    client.addEventListener('presence', event => this.whenStarted(() => this.presence(event)))
    client.addEventListener('room', event => this.whenStarted(() => this.room(event.detail)))
    client.addEventListener('reconnected', () => this.whenStarted(() => { for (const peer of this.links.values()) peer.recover() }))
    client.addEventListener('closed', event => this.end(event.detail))
    configuration.then(c => this.start(c), () => {})
  }

  /** The remote peers, by peer id. */
  get peers (): ReadonlyMap<string, RemotePeer> {
    return this.links
  }

  /**
   * This peer's id: the server's (in a group room, or in a two-party room with a session), or
   * in a two-party room without a session one this call made up.
   */
  get peerId (): string {
    return this.selfId
  }

  /** How many peers the room holds: 2, or a group room's size. */
  get size (): number {
    return this.client.room?.size ?? 2
  }

  /** Whether the call is over. */
  get ended (): boolean {
    return this.over
  }

  /**
   * Listens to an event of the call with its detail.
   * @param type `peer`, `peer-left`, `peer-state`, `ended` or `error`
   * @param listener called with the event's detail
   * @returns a function that removes the listener
   */
  on<K extends keyof CallEventMap>(type: K, listener: (detail: CallEventMap[K]['detail']) => void): () => void {
    const handler = (event: Event): void => listener((event as CallEventMap[K]).detail)
    this.addEventListener(type, handler)
    return () => this.removeEventListener(type, handler)
  }

  /**
   * Hangs up: closes every peer connection and the signaling connection. The local stream's
   * tracks are the app's: they keep running. `peer-left` and `ended` fire before this returns.
   */
  leave (): void {
    this.client.close()
  }

  private start (configuration: RTCConfiguration): void {
    if (this.over) return
    this.configuration = configuration
    const room = this.client.room
    this.group = room !== undefined
    this.selfId = room?.peer ?? this.client.peerId ?? randomPeerId()
    if (!this.group) this.client.notify({ type: 'hello', peer: this.selfId } satisfies Hello)
    // What came meanwhile (the peers already there) is handled in a task of its own: after
    // joinCall has resolved and the app, resuming from it, has added its listeners.
    setTimeout(() => {
      const waiting = this.waiting ?? []
      this.waiting = undefined
      for (const task of waiting) task()
    })
  }

  private whenStarted (task: () => void): void {
    if (this.over) return
    if (this.waiting !== undefined) this.waiting.push(task)
    else task()
  }

  private notified (event: NotifyEvent): void {
    const data = event.detail
    if (this.group) {
      if (event.from !== undefined && (isDescription(data) || isCandidate(data))) this.link(event.from).receive(data)
      return
    }
    const partner = this.partner()
    if (isHello(data)) {
      if (partner !== undefined) return
      const id = typeof data.peer === 'string' ? data.peer : undefined
      this.link(id ?? this.presenceHint ?? unnamedPartner, id !== undefined && this.selfId < id)
    } else if (isDescription(data) || isCandidate(data)) {
      // A seed page that is the caller offers without a hello of its own.
      const peer = partner ?? this.link(this.presenceHint ?? unnamedPartner, false)
      peer.receive(data)
    }
  }

  private presence (event: PresenceEvent): void {
    if (!this.group) {
      this.presenceHint = event.peer
      const partner = this.partner()
      // A two-party room's partner that leaves ends the call: the server closes this side.
      if (partner !== undefined && event.state !== 'left') this.present(partner, event.state !== 'reconnecting')
      return
    }
    if (event.state === 'left') return this.unlink(event.peer)
    const peer = this.link(event.peer, undefined, event.identity)
    this.present(peer, event.state !== 'reconnecting')
  }

  // A group room's list of peers, on joining and on each resume: peers that left while this
  // side was away are gone from it.
  private room (info: RoomInfo): void {
    const listed = new Set(info.peers.map(p => p.peer))
    for (const id of [...this.links.keys()]) if (!listed.has(id)) this.unlink(id)
    for (const p of info.peers) this.link(p.peer, undefined, p.identity)
  }

  private present (peer: RemotePeer, here: boolean): void {
    const wasAway = peer.away
    peer.setAway(!here)
    if (here && wasAway) peer.recover()
  }

  private partner (): RemotePeer | undefined {
    return this.links.values().next().value
  }

  /** The remote peer with that id, made (and announced) if new. */
  private link (peerId: string, polite = this.selfId < peerId, identity?: unknown): RemotePeer {
    let peer = this.links.get(peerId)
    if (peer !== undefined) return peer
    peer = new RemotePeer(peerId, polite, identity, { configuration: this.configuration, stream: this.localStream }, this.owner)
    this.links.set(peerId, peer)
    this.emit('peer', peer)
    return peer
  }

  private unlink (peerId: string): void {
    const peer = this.links.get(peerId)
    if (peer === undefined) return
    this.links.delete(peerId)
    peer.close()
    this.emit('peer-left', peer)
  }

  private end (detail: CloseDetail): void {
    if (this.over) return
    this.over = true
    this.waiting = undefined
    for (const id of [...this.links.keys()]) this.unlink(id)
    this.emit('ended', detail)
  }

  private emit<K extends keyof CallEventMap>(type: K, detail: CallEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

/**
 * Joins a call: connects to the room, gets the ICE configuration from the server, and connects
 * to every other peer of the room as they come.
 *
 * ```js
 * const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
 * const call = await joinCall({ roomId: 'abc', stream })
 * call.on('peer', ({ peerId, stream }) => show(peerId, stream))
 * call.on('peer-left', ({ peerId }) => hide(peerId))
 * ```
 * @param options the room, the local media, and the signaling client's options
 * @returns the call, once it is in the room; rejects with a NotifyError when it cannot join
 *   (`refused`: room full, not allowed, server unreachable) or gets no configuration
 */
export async function joinCall (options: JoinCallOptions): Promise<Call> {
  const { roomId, url, stream, configuration, ...connectOptions } = options
  const client = connect({ roomId, url }, connectOptions)
  const configured = client.ready
    .then(() => client.getConfiguration())
    .then(server => ({ ...server, ...configuration }))
  // The call starts before this function resumes: its reaction was registered first.
  const call = new Call(client, stream, configured)
  try {
    await configured
  } catch (error) {
    client.close()
    throw error
  }
  return call
}

// 16 random bytes as hex: crypto.randomUUID needs a secure context, getRandomValues does not.
function randomPeerId (): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, '0')).join('')
}
