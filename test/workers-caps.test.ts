// --workers: the connection caps hold in each worker, for the connections the primary hands it
// (Node counts maxConnections only for what a listening server accepts itself), as the usage
// text says: "in this process".
import t from 'tap'
import { join, until } from './helpers/client.js'
import { logLines, startCli } from './helpers/cli.js'
import { roomOfSlot } from './helpers/workers.js'

t.test('each worker caps its own connections: per address, then in all', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--workers', '2', '--no-demo',
    '--max-connections-per-ip', '2', '--max-connections', '3'])
  const at = (slot: number): string => `${cli.ws}/call/${roomOfSlot(slot)}`
  const from = (localAddress: string): { localAddress: string } => ({ localAddress })

  const held = [await join(at(0)), await join(at(0))]
  await t.rejects(join(at(0)), 'a third connection from 127.0.0.1 to worker 0 is closed')
  held.push(await join(at(0), from('127.0.0.2')))
  await t.rejects(join(at(0), from('127.0.0.3')), 'a fourth connection to worker 0 is closed')
  const elsewhere = await join(at(1))
  t.ok(elsewhere, 'worker 1 counts its own: 127.0.0.1 joins there')

  // Refusals are logged at most once a second: the second comes a moment later.
  const refusals = (): unknown[] => logLines(cli.stdout()).filter(line => line.level === 40).map(line => line.msg)
  await until(() => refusals().length === 2)
  t.same(refusals(), [
    'connection refused: the cap on connections from one address (--max-connections-per-ip 2) is reached',
    'connection refused: the cap on connections (--max-connections 3) is reached'
  ], 'both refusals are logged')

  held[0].close()
  await held[0].closed
  // The worker sees the close a moment after the client.
  await until(async () => await join(at(0), from('127.0.0.3')).then(() => true, () => false), 10_000)
  t.pass('once one leaves, worker 0 takes a connection again')
})
