import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import type { Test } from 'tap'
import { until } from '../helpers/client.js'
import { freePort, RedisServer } from './redis-server.js'

const run = promisify(execFile)
// A node's cluster bus listens on its port + 10000: both stay below 32768.
const ports = { from: 10000, to: 22767 }
const busOffset = 10000

/** A real Redis Cluster of masters only (no replicas), on loopback ports, without persistence. */
export class RedisCluster {
  /**
   * @param nodes the servers, masters all
   * @param admin a client of the cluster for the test's own checks
   */
  private constructor (readonly nodes: RedisServer[], readonly admin: Cluster) {}

  /** The nodes' URLs, redis://127.0.0.1:PORT. */
  get urls (): string[] {
    return this.nodes.map(node => node.url)
  }

  /**
   * `count` room ids starting with `name`, at least one of them held by each master. The same
   * names give the same ids and the same masters in every run.
   */
  async roomsOnEveryMaster (name: string, count = 12): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, i) => `${name}-${i}`)
    // A room's keys have its id as hash tag: the id's slot.
    const slots = await Promise.all(ids.map(async id => Number(await this.admin.call('CLUSTER', 'KEYSLOT', id))))
    const masters = new Set(slots.map(slot => this.admin.slots[slot][0]))
    if (masters.size !== this.nodes.length) throw new Error(`the rooms ${name}-* land on ${masters.size} masters only`)
    return ids
  }

  /** The keys matching `pattern` on each master, by port. */
  async keysByMaster (pattern: string): Promise<Map<number, string[]>> {
    const masters = this.admin.nodes('master')
    const keys = await Promise.all(masters.map(async node => await node.keys(pattern)))
    return new Map(masters.map((node, i) => [node.options.port!, keys[i]]))
  }

  /**
   * Starts `masters` nodes and makes them a cluster (`redis-cli --cluster create`), the slots
   * shared evenly; resolves once every node says the cluster is ok. Stopped when the test ends,
   * its files removed.
   */
  static async start (t: Test, masters = 3): Promise<RedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'rtc-notify-cluster-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const nodes = await Promise.all(Array.from({ length: masters }, async () => await RedisServer.start(t, {
      port: clusterPort,
      args: port => ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000', '--dir', dir]
    })))
    await run('redis-cli', ['--cluster', 'create', ...nodes.map(node => `127.0.0.1:${node.port}`),
      '--cluster-replicas', '0', '--cluster-yes'])
    const clients = nodes.map(node => new Redis(node.url))
    try {
      await until(async () => {
        const states = await Promise.all(clients.map(async client => String(await client.call('CLUSTER', 'INFO'))))
        return states.every(info => info.includes('cluster_state:ok'))
      }, 20_000)
    } finally {
      for (const client of clients) client.disconnect()
    }
    const admin = new Cluster(nodes.map(({ port }) => ({ host: '127.0.0.1', port })))
    t.teardown(() => admin.disconnect())
    await admin.ping()
    return new RedisCluster(nodes, admin)
  }
}

// A free port whose bus port is free too.
async function clusterPort (): Promise<number> {
  for (;;) {
    const port = ports.from + Math.floor(Math.random() * (ports.to - ports.from))
    try {
      await freePort(port)
      await freePort(port + busOffset)
      return port
    } catch {
      // Taken: try another.
    }
  }
}
