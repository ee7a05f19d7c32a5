// --workers: a worker that dies is replaced in the same slot, so that the rooms of that slot
// find a worker again; the other worker's calls go on meanwhile (issue 14).
import t from 'tap'
import { handshakeStatus, join, until, type TestPeer } from './helpers/client.js'
import { startCli, type RunningCli } from './helpers/cli.js'
import { children, everyWorkerHealth, roomOfSlot, running } from './helpers/workers.js'
import { closedWithin } from './redis/instances.js'

/** Two peers of a fresh room of `slot`, having said hello. */
async function call (cli: RunningCli, slot: number): Promise<[TestPeer, TestPeer]> {
  const id = roomOfSlot(slot)
  const a = await join(`${cli.ws}/call/${id}`)
  const b = await join(`${cli.ws}/call/${id}`)
  a.send({ method: 'NOTIFY', data: 'hello' })
  const hello = await b.next()
  if (hello.data !== 'hello') throw new Error(`no hello in ${id}`)
  return [a, b]
}

t.test('a worker killed with SIGKILL is replaced in its slot; its rooms work again, the others never stopped', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--workers', '2', '--no-demo'])
  const before = children(cli.child.pid!)
  t.equal(before.length, 2)
  const calls = [await call(cli, 0), await call(cli, 1), await call(cli, 0), await call(cli, 1)]

  // Which slot the killed worker had: the one whose peers are cut.
  const victim = before[0]
  process.kill(victim, 'SIGKILL')
  const cut = await Promise.race(calls.map(async ([a], i) => { await a.closed; return i }))
  const deadSlot = cut % 2
  for (const [i, [a, b]] of calls.entries()) {
    if (i % 2 === deadSlot) {
      t.equal((await closedWithin(a, 5000)).code, 1006, 'the dead worker\'s peers are cut')
      await closedWithin(b, 5000)
    } else {
      a.send({ method: 'NOTIFY', data: 'still here' })
      t.same(await b.next(), { method: 'NOTIFY', data: 'still here' }, 'the other worker\'s calls go on')
    }
  }

  t.equal(await handshakeStatus(`${cli.ws}/call/${roomOfSlot(deadSlot)}`), 503, 'meanwhile, a room of the slot gets 503')
  await until(async () => {
    const now = children(cli.child.pid!)
    return now.length === 2 && !now.includes(victim)
  }, 20_000)
  t.match(cli.stderr(), /a worker died \(SIGKILL\); starting another/)
  // The new worker serves its slot once it is ready: until then, that slot's rooms get 503.
  await until(async () => await everyWorkerHealth(cli.url, 2).then(() => true, () => false), 20_000)
  const [a, b] = await call(cli, deadSlot)
  b.send({ method: 'NOTIFY', data: 'back' })
  t.same(await a.next(), { method: 'NOTIFY', data: 'back' }, 'a new room of the slot relays at its new worker')
  const [c, d] = await call(cli, 1 - deadSlot)
  const health = await everyWorkerHealth(cli.url, 2)
  t.same(health.map(h => h.peers), [0, 1].map(slot => slot === deadSlot ? 2 : 6),
    'the new worker holds the new call of its slot; the other its two old calls and a new one')

  const workers = children(cli.child.pid!)
  cli.child.kill('SIGTERM')
  t.equal(await cli.exited, 0, 'a clean stop, despite the earlier death')
  for (const peer of [a, b, c, d]) t.equal((await closedWithin(peer, 5000)).code, 1001)
  t.notOk(workers.some(running), 'no worker is left')
})
