import { isCommandTimeout } from './redis-connection.js'
import { RedisBacklogError, RedisUnavailableError } from './redis-errors.js'

/**
 * Whether Redis answers the store's command connection, and how many bytes of frames wait for
 * its answer.
 *
 * A command that times out means Redis stopped answering (a hung process keeps its connections
 * open: nothing else would tell). From then on the store refuses what it can refuse, until a
 * probe sent after that timeout is answered. Redis answers a connection's commands in order, so
 * by then every command sent before the probe has been answered too, and ioredis has let go of
 * them: the bytes it holds never exceed what `carry` let through.
 */
export class RedisHealth {
  private answeringNow = true
  private timeouts = 0
  private inFlightBytes = 0

  /**
   * @param maxInFlightBytes bytes of frames sent and not yet answered, beyond which `carry` refuses
   * @param onChange called when Redis stops or starts answering
   */
  constructor (private readonly maxInFlightBytes: number, private readonly onChange: (answering: boolean) => void) {}

  /** Whether the last commands were answered in time. */
  get answering (): boolean {
    return this.answeringNow
  }

  /**
   * Runs a command carrying `bytes` of a frame, counted until Redis answers it (or it times out:
   * then nothing more is carried until Redis answers again).
   * @returns a rejection without sending anything: RedisUnavailableError while Redis is not
   * answering, RedisBacklogError when the command would put more than `maxInFlightBytes` in flight
   */
  carry<T> (bytes: number, command: () => Promise<T>): Promise<T> {
    if (!this.answeringNow) return Promise.reject(new RedisUnavailableError())
    if (this.inFlightBytes + bytes > this.maxInFlightBytes) return Promise.reject(new RedisBacklogError(this.maxInFlightBytes))
    this.inFlightBytes += bytes
    return command().then(answer => {
      this.inFlightBytes -= bytes
      return answer
    }, (err: unknown) => {
      this.inFlightBytes -= bytes
      this.failed(err)
      throw err
    })
  }

  /** `answer`, noting whether it timed out. */
  async watch<T> (answer: Promise<T>): Promise<T> {
    try {
      return await answer
    } catch (err) {
      this.failed(err)
      throw err
    }
  }

  /** Notes a command's failure: a timeout means Redis is not answering. */
  failed (err: unknown): void {
    if (!isCommandTimeout(err)) return
    this.timeouts++
    if (!this.answeringNow) return
    this.answeringNow = false
    this.onChange(false)
  }

  /**
   * Sends a probe: `probe` is a command on the same connection as the others.
   * @returns the probe's answer; Redis counts as answering again if no command timed out since it was sent
   */
  async probe<T> (probe: () => Promise<T>): Promise<T> {
    const timeouts = this.timeouts
    const answer = await this.watch(probe())
    if (!this.answeringNow && timeouts === this.timeouts) this.answered()
    return answer
  }

  /** Says Redis answers (a fresh connection did what the store asked). */
  answered (): void {
    if (this.answeringNow) return
    this.answeringNow = true
    this.onChange(true)
  }
}
