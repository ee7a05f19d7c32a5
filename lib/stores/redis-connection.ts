import { Redis, type RedisOptions } from 'ioredis'
import { RedisPipelineAbortedError, RedisUnreachableError } from './redis-errors.js'

const noop = (): void => {}

/**
 * Options of the store's own connections. Every command times out after `commandTimeoutMs`
 * (ioredis's `commandTimeout`: the promise rejects, the command stays queued until Redis
 * answers it or the connection drops). While Redis is away, commands fail at once rather than
 * wait in a queue, and none is ever sent twice (a relay must not be delivered twice);
 * reconnection is retried every second at most.
 */
export function storeConnectionOptions (commandTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000)
  }
}

/** Whether `err` is ioredis's rejection of a command that Redis did not answer within `commandTimeout`. */
export function isCommandTimeout (err: unknown): boolean {
  return err instanceof Error && err.message === 'Command timed out'
}

/**
 * Connects `client` if it is not yet, and waits until it is ready.
 * @throws RedisUnreachableError when it is not ready within `timeoutMs`, naming the last connection error
 */
export async function whenReady (client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'wait') client.connect().catch(noop)
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined
    const onError = (err: Error): void => { lastError = err }
    const onReady = (): void => { done(); resolve() }
    const timer = setTimeout(() => {
      done()
      const reason = `not reachable within ${timeoutMs} ms${lastError === undefined ? '' : `: ${lastError.message}`}`
      reject(new RedisUnreachableError(reason, { cause: lastError }))
    }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      client.off('ready', onReady)
      client.off('error', onError)
    }
    client.on('ready', onReady)
    client.on('error', onError)
  })
}

/**
 * The results of a pipeline's `exec()`.
 * @throws the first command's error, if any failed
 */
export function pipelineResults (results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new RedisPipelineAbortedError()
  for (const [err] of results) if (err !== null) throw err
  return results.map(([, value]) => value)
}
