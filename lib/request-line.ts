import type { Socket } from 'node:net'
import { closingResponse } from './raw-response.js'

/** What a connection sent up to the end of its request line. */
export interface RequestLine {
  /** Every byte read from the connection, the request line and whatever followed it. */
  head: Buffer
  /** The request target; undefined when the line is not `METHOD SP TARGET SP VERSION`. */
  target: string | undefined
}

/** How much of a request line is read, and for how long. */
export interface RequestLineLimits {
  /** The longest request line accepted, in bytes; a longer one is answered 414. */
  maxBytes: number
  /** How long the line may take to arrive, from the connection on; a slower one is answered 408. */
  timeoutMs: number
}

// Libuv's handle under a net.Socket; Socket.pause() stops 'data' events, not the reads.
type ReadingSocket = Socket & { _handle?: { readStop?: () => number } | null }

/**
 * Reads a new connection until its request line has arrived, then stops reading from it and
 * calls `onLine`. Nothing more is read from the socket afterwards: a byte read here after the
 * line would be lost once the socket is handed to another process. A line longer than
 * `limits.maxBytes` is answered 414, one slower than `limits.timeoutMs` 408, and the
 * connection is closed; so is one that fails or closes before its line.
 * @param socket a connection as accepted (paused or not), with nothing read from it yet
 */
export function readRequestLine (socket: Socket, limits: RequestLineLimits, onLine: (line: RequestLine) => void): void {
  const chunks: Buffer[] = []
  let length = 0
  const stop = (): void => {
    clearTimeout(timer)
    socket.removeListener('data', onData)
  }
  const refuse = (status: number): void => {
    stop()
    // As Node's HTTP server answers the same failures: one response, then the socket is destroyed.
    socket.write(closingResponse(status))
    socket.destroy()
  }
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk)
    length += chunk.length
    // Only a chunk with a line feed can end the line: the bytes are joined once per such chunk.
    const bytes = !chunk.includes(10) ? undefined : chunks.length === 1 ? chunk : Buffer.concat(chunks, length)
    const line = bytes === undefined ? undefined : requestLineIn(bytes)
    if (bytes === undefined || line === undefined) {
      if (length > limits.maxBytes) refuse(414)
      return
    }
    if (line.stop > limits.maxBytes) return refuse(414)
    stop()
    stopReading(socket)
    onLine({ head: bytes, target: targetOf(bytes.toString('latin1', line.start, line.stop)) })
  }
  const timer = setTimeout(() => refuse(408), limits.timeoutMs)
  socket.on('data', onData)
  // A connection reset before its line: nothing to answer.
  socket.on('error', () => socket.destroy())
  socket.once('close', stop)
  socket.resume()
}

/**
 * Where the request line is in `bytes`: after any empty lines (RFC 9112 lets a server ignore
 * them), up to its CR LF (or bare LF).
 * @returns its start and end offsets, without the line break; undefined while it has not ended
 */
function requestLineIn (bytes: Buffer): { start: number, stop: number } | undefined {
  let start = 0
  for (;;) {
    const lf = bytes.indexOf(10, start)
    if (lf === -1) return undefined
    const stop = lf > start && bytes[lf - 1] === 13 ? lf - 1 : lf
    if (stop > start) return { start, stop }
    start = lf + 1
  }
}

function targetOf (line: string): string | undefined {
  const parts = line.split(' ')
  return parts.length === 3 && parts[1] !== '' ? parts[1] : undefined
}

/**
 * Stops the socket's reads at the system level, for good. `pause()` only stops 'data' events:
 * the socket would go on reading into its buffer, and what it read would not reach the process
 * it is handed to (Node's child_process documentation: data received and buffered in the socket
 * is not sent). The handle stays marked as reading: net.Socket starts reads again, on its next
 * turn, on a handle it believes stopped while its buffer is below the high-water mark.
 */
function stopReading (socket: ReadingSocket): void {
  socket.pause()
  socket._handle?.readStop?.()
}
