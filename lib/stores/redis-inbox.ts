import { EventEmitter } from 'node:events'
import type { Redis, RedisOptions } from 'ioredis'

const noop = (): void => {}

/** The inbox's connection to one node. */
interface Ear {
  /** The node's address, as the cluster client names it. */
  address: string
  connection: Redis
  /** The node's part of a channel name ('' on a single Redis); undefined until the connection is ready. */
  node: string | undefined
}

/**
 * Where this instance hears what the scripts publish to it: its channel, `<channels><node><instance id>`.
 *
 * A script takes PUBLISH's count of subscribers for whether the instance listens; when it does
 * not, the frame waits in the room's queue. On a Redis Cluster a PUBLISH counts only the
 * subscribers of the node it runs on (the cluster bus carries the message to the other nodes, which
 * deliver it to theirs). So on a cluster the instance listens on every master, each time under a
 * name that says which (`<node id>:`, the node's CLUSTER MYID, as the scripts name it too): a
 * script's count is that of this instance's connection to the script's own node, and the copies
 * the bus carries to the other masters find nobody listening under that name. On a single Redis
 * the node's part is empty: one connection, one channel.
 *
 * Events: `message` (a Buffer), `ready` when every connection is ready, `close` when one was
 * lost, `error`.
 */
export class RedisInbox extends EventEmitter {
  private ears: Ear[] = []
  private opened = false

  /**
   * @param channels the prefix of every instance's channel
   * @param onCluster whether `nodes` are a cluster's masters: channels then name the node
   * @param nodes the nodes to listen on, as connections whose settings (address, credentials,
   *   TLS) the inbox copies for its own; on a cluster, read again by `follow`
   * @param options the settings of the inbox's connections
   */
  constructor (private readonly channels: string, private readonly onCluster: boolean,
    private readonly nodes: () => Redis[], private readonly options: RedisOptions) {
    super()
  }

  /** 'wait' until `connect`, then 'ready' while every connection is ready, 'connecting' otherwise. */
  get status (): 'wait' | 'connecting' | 'ready' {
    if (!this.opened) return 'wait'
    return this.ears.length > 0 && this.ears.every(isReady) ? 'ready' : 'connecting'
  }

  /** Connects to the nodes. */
  async connect (): Promise<void> {
    this.opened = true
    this.follow()
  }

  /**
   * Listens on the nodes as they are now: a master that appeared gets a connection (`ready` tells
   * when it can listen), one that went loses its own.
   */
  follow (): void {
    if (!this.opened) return
    const nodes = new Map(this.nodes().map(node => [addressOf(node), node]))
    for (const ear of this.ears) {
      if (nodes.has(ear.address)) continue
      ear.connection.removeAllListeners().on('error', noop)
      ear.connection.disconnect()
    }
    this.ears = this.ears.filter(ear => nodes.has(ear.address))
    for (const [address, node] of nodes) {
      if (!this.ears.some(ear => ear.address === address)) this.hear(address, node)
    }
  }

  /** Subscribes the instance's channel on every node. */
  async listen (instanceId: string): Promise<void> {
    await Promise.all(this.ears.map(async ear => await ear.connection.subscribe(this.channels + (ear.node ?? '') + instanceId)))
  }

  /** Unsubscribes it. */
  async unlisten (instanceId: string): Promise<void> {
    await Promise.all(this.ears.map(async ear => await ear.connection.unsubscribe(this.channels + (ear.node ?? '') + instanceId)))
  }

  /** Closes every connection. */
  disconnect (): void {
    this.opened = false
    for (const ear of this.ears) ear.connection.disconnect()
  }

  private hear (address: string, node: Redis): void {
    // Channels are subscribed again by the store, which also fetches what was missed meanwhile.
    const connection = node.duplicate({ ...this.options, scripts: undefined, autoResubscribe: false })
    const ear: Ear = { address, connection, node: undefined }
    this.ears.push(ear)
    connection.on('ready', () => { void this.named(ear) })
    connection.on('close', () => {
      ear.node = undefined
      this.emit('close')
    })
    connection.on('error', (err: Error) => { if (this.listenerCount('error') > 0) this.emit('error', err) })
    connection.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.emit('message', message))
    connection.connect().catch(noop)
  }

  // A connection is ready: the node's name is asked before the connection subscribes anything.
  private async named (ear: Ear): Promise<void> {
    try {
      ear.node = this.onCluster ? `${String(await ear.connection.call('CLUSTER', 'MYID'))}:` : ''
    } catch (err) {
      if (this.listenerCount('error') > 0) this.emit('error', err)
      // Connecting again asks again.
      ear.connection.disconnect(true)
      return
    }
    if (this.status === 'ready') this.emit('ready')
  }
}

function isReady (ear: Ear): boolean {
  return ear.node !== undefined && ear.connection.status === 'ready'
}

function addressOf (node: Redis): string {
  const { host, port, path } = node.options
  return path ?? `${host ?? ''}:${port ?? ''}`
}
