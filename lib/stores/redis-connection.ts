import type { ClusterOptions, RedisOptions } from 'ioredis'
import { RedisUnreachableError } from './redis-errors.js'

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

/**
 * The same settings for a Redis Cluster client: the per-command ones go to each node's
 * connection, the others to the cluster. A command whose node connection closed before the answer
 * is not sent again (it may have run: `retryDelayOnFailover` 0); one that a node redirected
 * (MOVED, ASK) or refused (TRYAGAIN, CLUSTERDOWN) did not run, and ioredis sends it on.
 * @param redisOptions the node settings to keep (credentials, TLS...)
 */
export function storeClusterOptions (commandTimeoutMs: number, redisOptions: ClusterOptions['redisOptions'] = {}): ClusterOptions {
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...perCommand } = storeConnectionOptions(commandTimeoutMs)
  return {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    retryDelayOnFailover: 0,
    redisOptions: { ...redisOptions, ...perCommand }
  }
}

/** Whether `err` is ioredis's rejection of a command that Redis did not answer within `commandTimeout`. */
export function isCommandTimeout (err: unknown): boolean {
  return err instanceof Error && err.message === 'Command timed out'
}

/** A connection as `whenReady` sees it: an ioredis client, a cluster client or the store's inbox. */
export interface Connectable {
  readonly status: string
  connect: () => Promise<void>
  on: (event: 'ready' | 'error', listener: (err: Error) => void) => unknown
  off: (event: 'ready' | 'error', listener: (err: Error) => void) => unknown
}

/**
 * Connects `client` if it is not yet, and waits until it is ready.
 * @throws RedisUnreachableError when it is not ready within `timeoutMs`, naming the last connection error
 */
export async function whenReady (client: Connectable, timeoutMs: number): Promise<void> {
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
