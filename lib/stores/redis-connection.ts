import { Redis, type RedisOptions } from 'ioredis'

const noop = (): void => {}

/**
 * Options of the connections the Redis store makes itself: while Redis is away, commands fail
 * at once rather than wait in a queue, and none is ever sent twice (a relay must not be
 * delivered twice); reconnection is retried every second at most.
 */
export const storeConnectionOptions: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000)
}

/**
 * Connects `client` if it is not yet, and waits until it is ready.
 * @throws when it is not ready within `timeoutMs`, naming the last connection error
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
      reject(new Error(`not reachable within ${timeoutMs} ms${lastError === undefined ? '' : `: ${lastError.message}`}`))
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
  if (results === null) throw new Error('pipeline aborted')
  for (const [err] of results) if (err !== null) throw err
  return results.map(([, value]) => value)
}

/** `promise`, or a rejection after `ms` (for commands that may never be answered). */
export async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
