// --workers N with --redis: the primary still routes every handshake of a room to the room's
// worker, so both peers of a room share a process; the store is Redis, for the instances on
// other machines.
import t from 'tap'
import { join } from '../helpers/client.js'
import { children, everyWorkerHealth, roomOfSlot, running } from '../helpers/workers.js'
import { closedWithin, healthStatus, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'
import { roomSlot } from '../../lib/room-router.js'

t.test('--workers 2 --redis: two workers, one URL printed, both peers of a room on its worker, a clean stop', async t => {
  const redis = await RedisServer.start(t)
  const cli = await startInstance(t, redis.url, ['--workers', '2'])
  t.equal(cli.stdout().match(/listening on/g)?.length, 1, 'the URL is printed once')
  t.match(cli.stdout(), /with 2 workers/)
  const workers = children(cli.child.pid!)
  t.equal(workers.length, 2, 'two worker processes')
  t.equal(await healthStatus(cli), 200)

  // Six rooms of worker 0, two of worker 1: a round-robin would give each worker 8 peers.
  const rooms = [0, 0, 0, 0, 0, 0, 1, 1].map(slot => roomOfSlot(slot))
  const pairs = []
  for (const room of rooms) pairs.push([await join(roomAt(cli, room)), await join(roomAt(cli, room))])
  for (const [first, second] of pairs) {
    first.send({ method: 'NOTIFY', data: 'ping' })
    t.same(await second.next(), { method: 'NOTIFY', data: 'ping' })
    second.send({ method: 'NOTIFY', data: 'pong' })
    t.same(await first.next(), { method: 'NOTIFY', data: 'pong' })
  }

  for (const { slot, peers } of await everyWorkerHealth(cli.url, 2)) {
    const mine = rooms.filter(room => roomSlot(room, 2) === slot).length
    t.equal(peers, 2 * mine, `worker ${slot} holds both peers of its ${mine} rooms`)
  }

  cli.child.kill('SIGTERM')
  t.equal(await cli.exited, 0, 'the primary exits 0 once the workers have closed')
  for (const [first] of pairs) t.equal((await closedWithin(first, 5000)).code, 1001, 'peers hear the server go away')
  t.notOk(workers.some(running), 'no worker is left')
})
