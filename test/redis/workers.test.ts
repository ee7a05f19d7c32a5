// --workers N: N worker processes share the port (node:cluster) and their rooms (Redis).
import { execFileSync } from 'node:child_process'
import { get } from 'node:http'
import t from 'tap'
import { join } from '../helpers/client.js'
import { closedWithin, freshRoom, healthStatus, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

/** The pids of a process's children. */
function children (pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return [] // ps exits 1 when there are none
  }
}

/** The peers count of a /health answer, over a connection of its own (so any worker may answer). */
async function peersAtSomeWorker (url: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    get(url + 'health', { agent: false }, response => {
      let body = ''
      response.on('data', chunk => { body += String(chunk) })
      response.on('end', () => resolve((JSON.parse(body) as { peers: number }).peers))
    }).on('error', reject)
  })
}

function running (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('--workers 2: two workers, one URL printed, calls across them, a clean stop', async t => {
  const redis = await RedisServer.start(t)
  const cli = await startInstance(t, redis.url, ['--workers', '2'])
  t.equal(cli.stdout().match(/listening on/g)?.length, 1, 'the URL is printed once')
  t.match(cli.stdout(), /with 2 workers/)
  const workers = children(cli.child.pid!)
  t.equal(workers.length, 2, 'two worker processes')
  t.equal(await healthStatus(cli), 200)

  // Connections go to the workers in turn, so these pairs are split between them.
  const pairs = []
  for (let i = 0; i < 4; i++) {
    const room = freshRoom()
    pairs.push([await join(roomAt(cli, room)), await join(roomAt(cli, room))])
  }
  for (const [first, second] of pairs) {
    first.send({ method: 'NOTIFY', data: 'ping' })
    t.same(await second.next(), { method: 'NOTIFY', data: 'ping' })
    second.send({ method: 'NOTIFY', data: 'pong' })
    t.same(await first.next(), { method: 'NOTIFY', data: 'pong' })
  }

  const counts = []
  for (let i = 0; i < 6; i++) counts.push(await peersAtSomeWorker(cli.url))
  t.ok(counts.every(n => n < 8), `no single worker holds all 8 peers (answers: ${counts.join(', ')})`)

  cli.child.kill('SIGTERM')
  t.equal(await cli.exited, 0, 'the primary exits 0 once the workers have closed')
  for (const [first] of pairs) t.equal((await closedWithin(first, 5000)).code, 1001, 'peers hear the server go away')
  t.notOk(workers.some(running), 'no worker is left')
})
