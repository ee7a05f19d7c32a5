import WebSocket from 'ws'

/** A received frame: text frames parsed as JSON. */
export type Message = Record<string, unknown>

/**
 * A test peer: a real WebSocket client that buffers what it receives, so a test can await
 * frames in order without racing the socket.
 */
export class TestPeer {
  readonly socket: WebSocket
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number, reason: string }>
  private readonly inbox: Message[] = []
  private waiter: ((m: Message) => void) | undefined

  constructor (url: string, options: WebSocket.ClientOptions = {}) {
    this.socket = new WebSocket(url, options)
    this.socket.on('message', (data, isBinary) => {
      const message = JSON.parse(isBinary ? '"binary"' : data.toString()) as Message
      if (this.waiter !== undefined) {
        const w = this.waiter
        this.waiter = undefined
        w(message)
      } else {
        this.inbox.push(message)
      }
    })
    this.opened = new Promise((resolve, reject) => {
      this.socket.once('open', () => resolve())
      this.socket.once('error', reject)
      this.socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode ?? 0}`)))
    })
    this.opened.catch(() => {})
    this.closed = new Promise(resolve => {
      this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))
    })
  }

  /** Sends a value as JSON text, or a string as it is. */
  send (frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The next frame received, waiting up to `timeoutMs`. */
  async next (timeoutMs = 5000): Promise<Message> {
    const queued = this.inbox.shift()
    if (queued !== undefined) return queued
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(new Error('no frame received in time'))
      }, timeoutMs)
      this.waiter = m => { clearTimeout(timer); resolve(m) }
    })
  }

  /** Records every text frame received from now on, as the exact text (next() still sees them). */
  texts (): string[] {
    const texts: string[] = []
    this.socket.on('message', (data, isBinary) => { if (!isBinary) texts.push(data.toString()) })
    return texts
  }

  /** Frames received but not yet taken with next(). */
  pending (): Message[] {
    return [...this.inbox]
  }

  /** Sends a GET and returns the answer (the next frame). */
  async get (resource: string, msgId: unknown = 1): Promise<Message> {
    this.send({ method: 'GET', resource, msg_id: msgId })
    return await this.next()
  }

  close (code?: number): void {
    this.socket.close(code)
  }

  /** Cuts the connection without a close frame, as a vanished network would. */
  drop (): void {
    this.socket.terminate()
  }
}

/** Opens a peer and waits until it is connected. */
export async function join (url: string, options?: WebSocket.ClientOptions): Promise<TestPeer> {
  const peer = new TestPeer(url, options)
  await peer.opened
  return peer
}

/**
 * Attempts a handshake that should be refused.
 * @returns the HTTP status of the refusal, or 101 if it was accepted (the socket is closed)
 */
export async function handshakeStatus (url: string, options?: WebSocket.ClientOptions): Promise<number> {
  const peer = new TestPeer(url, options)
  try {
    await peer.opened
    peer.close()
    return 101
  } catch (err) {
    const match = /HTTP (\d+)/.exec((err as Error).message)
    if (match === null) throw err
    return Number(match[1])
  }
}

/** Resolves after `ms` milliseconds. */
export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Waits until `condition()` holds, checking every 10 ms, failing after `timeoutMs`. */
export async function until (condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(10)
  }
}
