import { readFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { defaultMaxConnections } from './cli-options.js'

// Files the process may still open when connections are at their cap: Redis, logs, the demo page.
const reservedFiles = 128

/**
 * Caps the TCP connections `server` holds at once: `total` in all (Node's own maxConnections)
 * and `perAddress` from one remote address. A connection over a cap is closed as soon as it is
 * accepted, before TLS or HTTP spend anything on it, and logged. 0 turns a cap off.
 */
export function capConnections (server: HttpServer, caps: { total: number, perAddress: number }, log: FastifyBaseLogger): void {
  const refusals = new RefusalLog(log)
  // Left unset for no cap: whether Node reads 0 as none has not been the same in every version.
  if (caps.total > 0) server.maxConnections = caps.total
  server.on('drop', (data?: { remoteAddress?: string }) => {
    refusals.refused(data?.remoteAddress, `the cap on connections (--max-connections ${caps.total}) is reached`)
  })
  server.on('close', () => refusals.stop())
  if (caps.perAddress === 0) return
  const open = new Map<string, number>()
  // First in line: the TLS and HTTP listeners that come after see a socket already destroyed.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress
    // Already reset by the client: nothing to count.
    if (address === undefined) return
    const count = open.get(address) ?? 0
    if (count >= caps.perAddress) {
      socket.destroy()
      refusals.refused(address, `the cap on connections from one address (--max-connections-per-ip ${caps.perAddress}) is reached`)
      return
    }
    open.set(address, count + 1)
    socket.once('close', () => {
      const left = open.get(address)! - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
}

/**
 * Logs refused connections without letting a flood of them flood the log: the first at once,
 * then at most one line a second, each naming the latest refusal and how many others it stands
 * for (`suppressed`).
 */
class RefusalLog {
  readonly #log: FastifyBaseLogger
  #timer: NodeJS.Timeout | undefined
  #suppressed = 0
  #latest = { remoteAddress: undefined as string | undefined, reason: '' }

  constructor (log: FastifyBaseLogger) {
    this.#log = log
  }

  /** Notes one refused connection from `remoteAddress`, `reason` saying which cap refused it. */
  refused (remoteAddress: string | undefined, reason: string): void {
    this.#latest = { remoteAddress, reason }
    if (this.#timer === undefined) {
      this.#write(0)
    } else {
      this.#suppressed++
    }
  }

  /** Forgets what is pending (the server is closing). */
  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #write (suppressed: number): void {
    const { remoteAddress, reason } = this.#latest
    this.#log.warn({ remoteAddress, suppressed }, `connection refused: ${reason}`)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#suppressed === 0) return
      // The latest refusal gets this line; the others are counted in it.
      const others = this.#suppressed - 1
      this.#suppressed = 0
      this.#write(others)
    }, 1000).unref()
  }
}

/**
 * The default cap on connections: defaultMaxConnections, lowered to leave some files free
 * when the open-files limit (Linux: /proc/self/limits) is lower, so that the cap refuses and
 * logs before accept() fails with EMFILE and refuses silently.
 */
export function maxConnectionsByDefault (): number {
  let soft = Infinity
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))
    if (match !== null) soft = Number(match[1])
  } catch {
    // Not Linux: the fixed default.
  }
  return Math.max(1, Math.min(defaultMaxConnections, soft - reservedFiles))
}
