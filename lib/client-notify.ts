/**
 * The signaling client: joins a room, passes NOTIFY data to the other peers, tells who is in
 * the room (ROOM, PRESENCE), surfaces the app's APP messages, asks for the RTCPeerConnection
 * configuration and, when the server grants a session, comes back by itself after a dropped
 * connection. It speaks the protocol of docs/protocol.md and nothing more; `joinCall`
 * (client-call.ts) makes the WebRTC call on top of it.
 */

import { CloseCode, Method, Resource, resumableCloseCodes, type PresenceState } from './wire.js'

export type { PresenceState } from './wire.js'

/** Where the client is: it starts `connecting`, and `closed` is final. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed'

/**
 * Why the client closed:
 * - `hangup`: this side called `close()`;
 * - `peer-left`: the other peer left, the call is over (the server's 1000);
 * - `refused`: the first connection never opened (handshake refused, or server unreachable);
 * - `dropped`: the connection was lost and could not be resumed;
 * - `replaced`: the same session resumed on another connection (4001);
 * - `kicked`: the app on the server removed this peer from the room (4003; the reason is the
 *   app's); it cannot come back with its session;
 * - `room-closed`: the app on the server closed the room (4004; the reason is the app's);
 * - `server`: the server closed the connection for another reason (the close code says which).
 */
export type CloseCause = 'hangup' | 'peer-left' | 'refused' | 'dropped' | 'replaced' | 'kicked' | 'room-closed' | 'server'

/** The detail of `closed` and `peer-left` events. */
export interface CloseDetail {
  code: number
  reason: string
  cause: CloseCause
}

/** The detail of a `reconnecting` event, one per attempt. */
export interface ReconnectingDetail {
  /** 1 for the first attempt after a drop. */
  attempt: number
  /** Milliseconds until this attempt. */
  delay: number
  /** When the session's grace period ends (ms since epoch); no attempt starts after it. */
  deadline: number
}

/** A session the server granted (`GET /session`). */
export interface Session {
  peer: string
  token: string
  /** Seconds a dropped connection may take to come back. */
  grace: number
}

/**
 * What went wrong:
 * - `failed`: the server answered `failed`; `reason` holds its words;
 * - `timeout`: a GET got no answer in time;
 * - `refused`: the handshake was refused or the server was unreachable (a browser cannot see
 *   the HTTP status: room full, forbidden and offline look the same);
 * - `closed`: the client closed before the answer came;
 * - `protocol`: the server sent something that is not a frame of this protocol.
 */
export type NotifyErrorKind = 'failed' | 'timeout' | 'refused' | 'closed' | 'protocol'

/** The error of rejected requests and of `error` events. */
export class NotifyError extends Error {
  override name = 'NotifyError'
  /**
   * @param kind what went wrong
   * @param message a sentence for people
   * @param reason the server's reason, for a `failed` answer
   */
  constructor (readonly kind: NotifyErrorKind, message: string, readonly reason?: string) {
    super(message)
  }
}

/** Another peer of the room, as ROOM frames list them. */
export interface RoomPeer {
  /** Its peer id. */
  peer: string
  /** What the app's `authorize` said about it, when the server shares identities (`shareIdentity`). */
  identity?: unknown
}

/** Who this peer is and who is there, as a group room tells a peer when it joins (and resumes). */
export interface RoomInfo {
  /** This peer's id in the room. */
  peer: string
  /** How many peers the room holds. */
  size: number
  /** The other peers in the room (those away on a resume included). */
  peers: RoomPeer[]
}

/**
 * A NOTIFY from another peer: `detail` is its data (any JSON value), `from` says who sent it.
 */
export class NotifyEvent extends CustomEvent<unknown> {
  /**
   * The sender's peer id: in a group room, always; in a two-party room, the other peer's id
   * once a PRESENCE frame named it (this client holds a session), otherwise undefined.
   */
  readonly from: string | undefined

  /**
   * @param data the NOTIFY's data
   * @param from the sender's peer id, when known
   */
  constructor (data: unknown, from: string | undefined) {
    super('notify', { detail: data })
    this.from = from
  }
}

/**
 * A PRESENCE frame: another peer of the room joined, dropped, came back or left. `detail` is
 * the state (a string, as before group rooms existed); `peer` and `identity` say who.
 */
export class PresenceEvent extends CustomEvent<PresenceState> {
  /** The state, the same as `detail`. */
  readonly state: PresenceState
  /** That peer's id. */
  readonly peer: string
  /** What the app's `authorize` said about it, when the server shares identities. */
  readonly identity: unknown

  /**
   * @param state what the peer did
   * @param peer its peer id
   * @param identity its identity, when the server shares it
   */
  constructor (state: PresenceState, peer: string, identity: unknown) {
    super('presence', { detail: state })
    this.state = state
    this.peer = peer
    this.identity = identity
  }
}

/** The events of a NotifyClient; `CustomEvent.detail` carries the payload. */
export interface NotifyClientEventMap {
  /** The first connection opened. */
  open: Event
  /** Another peer sent data: `detail` is the data, `from` the sender's id. */
  notify: NotifyEvent
  /**
   * Another peer joined, dropped, came back or left: `detail` is the state, `peer` its id.
   * Sent in group rooms, and in two-party rooms to a client holding a session.
   */
  presence: PresenceEvent
  /** Group rooms: who this peer is and who is there (on joining, and again on each resume). */
  room: CustomEvent<RoomInfo>
  /** A message from the app on the server (an APP frame): `detail` is its data. */
  message: CustomEvent<unknown>
  /** The other peer left: the call is over; `closed` follows. */
  'peer-left': CustomEvent<CloseDetail>
  /** The client is closed for good. */
  closed: CustomEvent<CloseDetail>
  /** A `failed` answer no request was waiting for ("queue full", "rate limited"), a refused
   * handshake, or a frame the client does not understand. */
  error: CustomEvent<NotifyError>
  /** The connection dropped; an attempt to resume is scheduled. */
  reconnecting: CustomEvent<ReconnectingDetail>
  /** The session resumed on a new connection. */
  reconnected: Event
}

/** Options of `connect()`. Durations in milliseconds. */
export interface ConnectOptions {
  /** Ask for a session and resume it after a dropped connection (default true). */
  resume?: boolean
  /** How long a GET waits for its answer (default 10000). */
  requestTimeout?: number
  /** Delay before the first attempt to resume; doubled after each (default 250). */
  reconnectDelay?: number
  /** Longest delay between attempts to resume (default 5000). */
  maxReconnectDelay?: number
}

/**
 * A room to join:
 * - a URL string or URL: the room's WebSocket URL (`wss://host/call/abc`), or relative to the
 *   page (`/call/abc`); `http(s):` is read as `ws(s):`;
 * - `{ roomId, url }`: the room `roomId` of the server whose routes start at `url` (default:
 *   the page's origin; `'/rtc'` when the plugin is registered with that prefix).
 */
export type RoomTarget = string | URL | { roomId: string, url?: string | URL }

interface PendingRequest {
  frame: string
  resolve: (result: unknown) => void
  reject: (error: NotifyError) => void
  timer: ReturnType<typeof setTimeout>
  /** The socket the frame went out on; it is sent again on a new connection. */
  sentOn: WebSocket | undefined
}

/** Options of `notify()`. */
export interface NotifyOptions {
  /** In a group room, the peer id of the one peer to send to (default: every other peer). */
  to?: string
}

const resumableCodes = new Set(resumableCloseCodes)
const closeCauses = new Map<number, CloseCause>([
  [CloseCode.CallEnded, 'peer-left'],
  [CloseCode.Replaced, 'replaced'],
  [CloseCode.Kicked, 'kicked'],
  [CloseCode.RoomClosed, 'room-closed']
])

export interface NotifyClient {
  addEventListener<K extends keyof NotifyClientEventMap>(type: K, listener: (this: NotifyClient, event: NotifyClientEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void
  addEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void
  removeEventListener<K extends keyof NotifyClientEventMap>(type: K, listener: (this: NotifyClient, event: NotifyClientEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void
  removeEventListener (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void
}

/** One peer's connection to a room. Create it with `connect()`. */
export class NotifyClient extends EventTarget {
  /** The room's WebSocket URL. */
  readonly url: string
  /** Settles when the first connection opens, or rejects (`refused`, `closed`) when it never does. */
  readonly ready: Promise<void>
  private readonly options: Required<ConnectOptions>
  private current: ClientState = 'connecting'
  private socket: WebSocket | undefined
  private granted: Session | undefined
  private roomInfo: RoomInfo | undefined
  // In a two-party room the other peer's id, as the last PRESENCE frame named it.
  private partner: string | undefined
  private readonly pending = new Map<number, PendingRequest>()
  private outbox: string[] = []
  private nextMsgId = 1
  private attempt = 0
  private deadline = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private settleReady: (error?: NotifyError) => void = () => {}

  /**
   * Starts connecting at once; prefer `connect()`.
   * @param target the room
   * @param options see ConnectOptions
   */
  constructor (target: RoomTarget, options: ConnectOptions = {}) {
    super()
    this.url = roomUrl(target).href
    this.options = {
      resume: options.resume ?? true,
      requestTimeout: options.requestTimeout ?? 10_000,
      reconnectDelay: options.reconnectDelay ?? 250,
      maxReconnectDelay: options.maxReconnectDelay ?? 5000
    }
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = error => error === undefined ? resolve() : reject(error)
    })
    // Awaiting `ready` is optional: a refusal also arrives as `error` and `closed` events.
    this.ready.catch(() => {})
    this.dial(this.url)
  }

  /** `connecting`, `open`, `reconnecting` or `closed`. */
  get state (): ClientState {
    return this.current
  }

  /** The session the server granted, once it did (and the option `resume` is on). */
  get session (): Session | undefined {
    return this.granted
  }

  /**
   * This peer's id in the room, once the server said it: in a group room from the ROOM frame,
   * in a two-party room from the session (undefined without one).
   */
  get peerId (): string | undefined {
    return this.roomInfo?.peer ?? this.granted?.peer
  }

  /**
   * The last ROOM frame: set in a group room (before the answer to any request), undefined in
   * a two-party room.
   */
  get room (): RoomInfo | undefined {
    return this.roomInfo
  }

  /**
   * Asks the server for the RTCPeerConnection configuration (its ICE servers).
   * @param timeout milliseconds to wait for the answer (default: the option `requestTimeout`)
   * @returns the configuration; rejects with a NotifyError on a `failed` answer or a timeout
   */
  async getConfiguration (timeout?: number): Promise<RTCConfiguration> {
    const result = await this.request(Resource.PeerConnection, timeout) as { configuration?: unknown } | null
    const configuration = result?.configuration
    if (typeof configuration !== 'object' || configuration === null) {
      throw new NotifyError('protocol', 'the answer to GET /peerconnection has no configuration')
    }
    return configuration as RTCConfiguration
  }

  /**
   * Sends `{"method":"GET","resource":...,"msg_id":N}` and waits for the answer with that msg_id.
   * Sent when the connection is open, and again on a resumed connection if still unanswered.
   * @param resource e.g. `/peerconnection`
   * @param timeout milliseconds to wait (default: the option `requestTimeout`)
   * @returns the answer's `result`; rejects with a NotifyError (`failed`, `timeout`, `closed`)
   */
  request (resource: string, timeout = this.options.requestTimeout): Promise<unknown> {
    if (this.current === 'closed') return Promise.reject(new NotifyError('closed', 'the client is closed'))
    const msgId = this.nextMsgId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgId)
        reject(new NotifyError('timeout', `no answer to GET ${resource} within ${timeout} ms`))
      }, timeout)
      const request: PendingRequest = {
        frame: JSON.stringify({ method: Method.Get, resource, msg_id: msgId }),
        resolve,
        reject,
        timer,
        sentOn: undefined
      }
      this.pending.set(msgId, request)
      if (this.current === 'open') this.sendRequest(request)
    })
  }

  /**
   * Sends data to the other peer (in a group room: to every other peer, or to the one named by
   * `to`). While connecting or reconnecting it is kept and sent, in order, once the connection
   * opens; the server queues it if nobody else is there yet, or if the peer it is for is away.
   * @param data any JSON value (`undefined` is sent as `null`)
   * @param options `to`: a peer id, in a group room (a two-party room relays it unread)
   * @returns false when the client is closed and nothing was sent
   */
  notify (data: unknown, options: NotifyOptions = {}): boolean {
    if (this.current === 'closed') return false
    const message: Record<string, unknown> = { method: Method.Notify, data: data === undefined ? null : data }
    if (options.to !== undefined) message.to = options.to
    const frame = JSON.stringify(message)
    if (this.current === 'open') this.socket!.send(frame)
    else this.outbox.push(frame)
    return true
  }

  /**
   * Hangs up: sends close code 1000, which ends the call for the other peer at once (session
   * or not). `closed` is dispatched before this returns.
   * @param reason a few words for the server's logs (at most 123 bytes of UTF-8)
   */
  close (reason = 'hang up'): void {
    if (this.current === 'closed') return
    const socket = this.socket
    this.finish(1000, reason, 'hangup')
    if (socket?.readyState !== WebSocket.OPEN) return socket?.close()
    try {
      socket.close(1000, reason)
    } catch {
      // A reason over 123 bytes: hang up all the same.
      socket.close(1000)
    }
  }

  private dial (url: string): void {
    const socket = new WebSocket(url)
    let opened = false
    this.socket = socket
    socket.onopen = () => {
      opened = true
      this.opened()
    }
    socket.onmessage = event => {
      if (this.socket === socket) this.receive(event.data)
    }
    socket.onclose = event => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.lost(event, opened)
    }
    // A close event always follows, and says all a browser lets a page know.
    socket.onerror = () => {}
  }

  private opened (): void {
    const resumed = this.current === 'reconnecting'
    this.current = 'open'
    this.attempt = 0
    // Asked on every connection, a resumed one too (the same token comes back): the session is
    // then armed whatever a server carries over across a resume.
    if (this.options.resume) this.askSession()
    for (const request of this.pending.values()) {
      if (request.sentOn !== this.socket) this.sendRequest(request)
    }
    for (const frame of this.outbox) this.socket!.send(frame)
    this.outbox = []
    if (resumed) {
      this.dispatchEvent(new Event('reconnected'))
    } else {
      this.settleReady()
      this.dispatchEvent(new Event('open'))
    }
  }

  private askSession (): void {
    this.request(Resource.Session).then(result => {
      const session = result as Partial<Session> | null
      if (typeof session?.token === 'string' && typeof session.grace === 'number' && session.grace > 0) {
        this.granted = session as Session
      }
    }, () => {
      // No session (the server turned them off): a dropped connection ends the call.
    })
  }

  private sendRequest (request: PendingRequest): void {
    request.sentOn = this.socket
    this.socket!.send(request.frame)
  }

  private lost (event: CloseEvent, wasOpen: boolean): void {
    if (this.current === 'closed') return
    if (this.current === 'reconnecting') return this.retry()
    if (!wasOpen) {
      const error = new NotifyError('refused',
        'could not join the room: the server refused the handshake (room full, not allowed) or is unreachable')
      this.dispatchError(error)
      return this.finish(event.code, event.reason, 'refused', error)
    }
    const cause = closeCauses.get(event.code)
    if (cause === 'peer-left') {
      this.dispatchEvent(new CustomEvent('peer-left', { detail: { code: event.code, reason: event.reason, cause } }))
    }
    if (cause !== undefined) return this.finish(event.code, event.reason, cause)
    if (this.granted !== undefined && resumableCodes.has(event.code)) {
      this.current = 'reconnecting'
      this.deadline = Date.now() + this.granted.grace * 1000
      return this.retry()
    }
    this.finish(event.code, event.reason, event.code === 1006 ? 'dropped' : 'server')
  }

  private retry (): void {
    const base = Math.min(this.options.maxReconnectDelay, this.options.reconnectDelay * 2 ** this.attempt)
    // Jitter spreads the clients of a restarted server over time.
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()))
    if (Date.now() + delay >= this.deadline) {
      return this.finish(1006, 'could not reconnect within the grace period', 'dropped')
    }
    this.attempt++
    this.dispatchEvent(new CustomEvent('reconnecting', {
      detail: { attempt: this.attempt, delay, deadline: this.deadline }
    }))
    this.retryTimer = setTimeout(() => {
      const url = new URL(this.url)
      url.searchParams.set('resume', this.granted!.token)
      this.dial(url.href)
    }, delay)
  }

  private receive (data: unknown): void {
    let frame: Record<string, unknown>
    try {
      frame = JSON.parse(data as string)
    } catch {
      return this.dispatchError(new NotifyError('protocol', 'the server sent a frame that is not JSON text'))
    }
    if (typeof frame !== 'object' || frame === null) {
      return this.dispatchError(new NotifyError('protocol', 'the server sent a frame that is not an object'))
    }
    if (frame.method === Method.Notify) {
      // Only a group room's server writes `from`; in a two-party room it would be the sender's.
      const from = this.roomInfo !== undefined && typeof frame.from === 'string' ? frame.from : this.partner
      this.dispatchEvent(new NotifyEvent(frame.data, from))
    } else if (frame.method === Method.Presence) {
      this.presence(frame.data)
    } else if (frame.method === Method.Room) {
      this.roomInfo = frame.data as RoomInfo
      this.dispatchEvent(new CustomEvent('room', { detail: this.roomInfo }))
    } else if (frame.method === Method.App) {
      this.dispatchEvent(new CustomEvent('message', { detail: frame.data }))
    } else if (frame.code === 'success' || frame.code === 'failed') {
      this.answered(frame)
    } else {
      this.dispatchError(new NotifyError('protocol', 'the server sent a frame of an unknown kind'))
    }
  }

  private presence (data: unknown): void {
    const { state, peer, identity } = (data ?? {}) as { state?: PresenceState, peer?: string, identity?: unknown }
    if (state === undefined || peer === undefined) {
      return this.dispatchError(new NotifyError('protocol', 'the server sent a PRESENCE frame without a state or a peer'))
    }
    if (this.roomInfo === undefined) this.partner = peer
    this.dispatchEvent(new PresenceEvent(state, peer, identity))
  }

  private answered (frame: Record<string, unknown>): void {
    const msgId = frame.msg_id
    const request = typeof msgId === 'number' ? this.pending.get(msgId) : undefined
    const reason = String(frame.reason)
    if (request === undefined) {
      // Late successes (after a timeout) are dropped; failures still tell the app something.
      if (frame.code === 'failed') this.dispatchError(new NotifyError('failed', `the server answered: ${reason}`, reason))
      return
    }
    this.pending.delete(msgId as number)
    clearTimeout(request.timer)
    if (frame.code === 'success') request.resolve(frame.result)
    else request.reject(new NotifyError('failed', `the server answered: ${reason}`, reason))
  }

  private finish (code: number, reason: string, cause: CloseCause, error?: NotifyError): void {
    this.current = 'closed'
    this.socket = undefined
    clearTimeout(this.retryTimer)
    this.outbox = []
    for (const request of this.pending.values()) {
      clearTimeout(request.timer)
      request.reject(new NotifyError('closed', 'the client closed before the answer came'))
    }
    this.pending.clear()
    this.settleReady(error ?? new NotifyError('closed', 'the client closed before it connected'))
    this.dispatchEvent(new CustomEvent('closed', { detail: { code, reason, cause } }))
  }

  private dispatchError (error: NotifyError): void {
    this.dispatchEvent(new CustomEvent('error', { detail: error }))
  }
}

/**
 * Joins a room.
 * @param target the room: its URL, or `{ roomId, url }` (see RoomTarget)
 * @param options see ConnectOptions
 * @returns the client, already connecting
 */
export function connect (target: RoomTarget, options?: ConnectOptions): NotifyClient {
  return new NotifyClient(target, options)
}

/**
 * The WebSocket URL of a room.
 * @param target see RoomTarget
 */
export function roomUrl (target: RoomTarget): URL {
  const page = typeof location === 'undefined' ? undefined : location.href
  let url: URL
  if (typeof target === 'string' || target instanceof URL) {
    url = new URL(target, page)
  } else {
    const server = new URL(target.url ?? '/', page)
    if (!server.pathname.endsWith('/')) server.pathname += '/'
    url = new URL(`call/${encodeURIComponent(target.roomId)}`, server)
  }
  if (url.protocol === 'http:') url.protocol = 'ws:'
  else if (url.protocol === 'https:') url.protocol = 'wss:'
  return url
}
