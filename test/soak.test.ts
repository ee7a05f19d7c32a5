// Soak: thousands of join/relay/leave cycles leave nothing behind. Run with --expose-gc (.taprc).
import t from 'tap'
import { join, until } from './helpers/client.js'
import { startServer } from './helpers/server.js'
import { memoryStore } from '../lib/index.js'

const cycles = 3000
const parallel = 20

t.test('join/relay/leave cycles leave no rooms, seats, queued bytes, or heap behind', async t => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  const store = memoryStore()
  const server = await startServer(t, { store })

  let n = 0
  async function cycle (): Promise<void> {
    const room = `soak-${n++ % 500}`
    const a = await join(server.room(room))
    a.send({ method: 'NOTIFY', data: { type: 'offer', sdp: 'v=0\r\n'.repeat(50) } }) // queued: b is not there yet
    const b = await join(server.room(room))
    await b.next()
    b.send({ method: 'NOTIFY', data: { type: 'answer' } })
    await a.next()
    if (n % 2 === 0) a.close()
    else a.drop()
    await b.closed
    await a.closed
  }
  async function run (count: number): Promise<void> {
    await Promise.all(Array.from({ length: parallel }, async () => {
      for (let i = 0; i < count / parallel; i++) await cycle()
    }))
    await until(() => server.app.notify.stats().peers === 0)
  }
  const heap = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

  await run(500) // warm-up: JIT, pools, caches
  const before = heap()
  await run(cycles)
  const after = heap()

  t.same(store.size(), { rooms: 0, seats: 0, queuedBytes: 0, tokens: 0 }, 'the store is empty')
  t.same(server.app.notify.stats(), { rooms: 0, peers: 0 }, 'no seats counted')
  const growth = after - before
  // Retaining a socket, a request or a Peer per cycle would be several KiB per cycle; what is
  // left is V8's and the test's own noise (about 1 MiB here, not growing with more cycles).
  t.ok(growth < cycles * 1024, `heap grew ${(growth / 1024).toFixed(0)} KiB over ${cycles} cycles (under 1 KiB a cycle)`)
})
