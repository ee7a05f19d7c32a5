import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { InvalidOptionError } from '../errors.js'
import { RedisUnreachableError } from './redis-errors.js'
import { storeScripts } from './redis-scripts.js'

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

/** Where the store's Redis is: one of these. */
export interface RedisLocation {
  /** A Redis URL, e.g. redis://127.0.0.1:6379. */
  url?: string
  /**
   * A Redis Cluster: the URLs of some of its nodes (the store finds the others), e.g.
   * `['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000']`. Credentials and TLS (`rediss://`) are
   * taken from the first, for every node.
   */
  cluster?: string[]
  /**
   * An ioredis client, or Cluster client, whose connection settings (host, TLS, credentials,
   * database...) the store copies for its own connections (`client.duplicate()`); the client
   * itself is left untouched.
   */
  client?: Redis | Cluster
}

/**
 * The store's command connection to `where`, with the store's settings and scripts. A client
 * given is duplicated, with its own settings (address, credentials, TLS...) and the store's.
 * @throws InvalidOptionError when a `cluster` URL is not a redis:// or rediss:// URL
 */
export function storeClient (where: RedisLocation, commandTimeoutMs: number): Redis | Cluster {
  const { client, cluster, url } = where
  if (client !== undefined && isCluster(client)) {
    return client.duplicate([], { ...storeClusterOptions(commandTimeoutMs, client.options.redisOptions), scripts: storeScripts(true) })
  }
  if (client !== undefined) return client.duplicate({ ...storeConnectionOptions(commandTimeoutMs), scripts: storeScripts(false) })
  if (cluster !== undefined) {
    if (cluster.length === 0) throw new InvalidOptionError('cluster', 'expected the URL of at least one node')
    const nodes = cluster.map(clusterNode)
    // Credentials and TLS as the first URL gives them (there is one, checked above): ioredis takes one set for the cluster.
    const { username, password, tls } = nodes[0]!
    return new Cluster(nodes.map(({ host, port }) => ({ host, port })),
      { ...storeClusterOptions(commandTimeoutMs, { username, password, tls }), scripts: storeScripts(true) })
  }
  return new Redis(url!, { ...storeConnectionOptions(commandTimeoutMs), scripts: storeScripts(false) })
}

/** Whether `client` is an ioredis Cluster client (an `instanceof` would miss another copy of ioredis's). */
export function isCluster (client: Redis | Cluster): client is Cluster {
  return (client as Partial<Cluster>).isCluster === true
}

// A node of the `cluster` option: its address, and the credentials and TLS of its URL.
function clusterNode (url: string): { host: string, port: number, username?: string, password?: string, tls?: object } {
  let parsed
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidOptionError('cluster', `expected redis:// URLs, got ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new InvalidOptionError('cluster', `expected redis:// URLs, got ${JSON.stringify(url)}`)
  }
  const node: ReturnType<typeof clusterNode> = { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port === '' ? 6379 : parsed.port) }
  if (parsed.username !== '') node.username = decodeURIComponent(parsed.username)
  if (parsed.password !== '') node.password = decodeURIComponent(parsed.password)
  if (parsed.protocol === 'rediss:') node.tls = {}
  return node
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
