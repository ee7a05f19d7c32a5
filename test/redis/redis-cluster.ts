import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { until } from '../helpers/client.js'
import { freePort, RedisServer } from './redis-server.js'

const run = promisify(execFile)
// A node's cluster bus listens on its port + 10000: both stay below 32768.
const ports = { from: 10000, to: 22767 }
const busOffset = 10000

/** A real Redis Cluster of masters only (no replicas), on loopback ports, without persistence. */
export class RedisCluster {
  private constructor (readonly nodes: RedisServer[]) {}

  /** The nodes' URLs, redis://127.0.0.1:PORT. */
  get urls (): string[] {
    return this.nodes.map(node => node.url)
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
    const admins = nodes.map(node => new Redis(node.url))
    try {
      await until(async () => {
        const states = await Promise.all(admins.map(async admin => String(await admin.call('CLUSTER', 'INFO'))))
        return states.every(info => info.includes('cluster_state:ok'))
      }, 20_000)
    } finally {
      for (const admin of admins) admin.disconnect()
    }
    return new RedisCluster(nodes)
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
