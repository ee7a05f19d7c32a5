// The standalone server's connection caps (issue 10): --max-connections in all and
// --max-connections-per-ip from one address. A connection over a cap is closed at once without
// a byte, and logged (at most one line a second, counting the ones it stands for); a connection
// the server took and that then idles is answered 408 when its timeout closes it, which tells
// the two apart without timing anything.
import t, { type Test } from 'tap'
import { join, until, type TestPeer } from './helpers/client.js'
import { logLines, openSocket, startCli, within, type RawSocket, type RunningCli } from './helpers/cli.js'
import { defaultMaxConnectionsPerIp } from '../lib/cli-options.js'
import { RedisServer } from './redis/redis-server.js'

const patience = 30_000

/** Opens `count` idle sockets from `localAddress` and waits until each is connected. */
async function openIdle (t: Test, cli: RunningCli, count: number, localAddress = '127.0.0.1'): Promise<RawSocket[]> {
  const sockets = Array.from({ length: count }, () => openSocket(t, Number(new URL(cli.url).port), { localAddress }))
  await Promise.all(sockets.map(async s => await s.connected.catch(() => {})))
  return sockets
}

/** How many of `sockets` the server took (answered 408 at their timeout) and refused (closed without a byte). */
async function outcome (sockets: RawSocket[]): Promise<{ taken: number, refused: number }> {
  const received = await within(Promise.all(sockets.map(async s => await s.closed)), patience, 'every socket closed')
  return {
    taken: received.filter(bytes => /^HTTP\/1\.1 408 /.test(bytes)).length,
    refused: received.filter(bytes => bytes === '').length
  }
}

/**
 * Joins once the server has let go of closed sockets: a client sees its socket closed (the
 * server's 408 and FIN) a moment before the server reads the client's FIN and stops counting
 * it, and a join in between is refused by the cap, rightly.
 */
async function joinOnceFreed (url: string, options?: { localAddress?: string }): Promise<TestPeer> {
  let peer: TestPeer | undefined
  await until(async () => {
    peer = await join(url, options).catch(() => undefined)
    return peer !== undefined
  }, patience)
  return peer!
}

/** The server's warnings about refused connections. */
function refusalLines (cli: RunningCli): Array<Record<string, unknown>> {
  return logLines(cli.stdout()).filter(line => line.level === 40 && /^connection refused/.test(String(line.msg)))
}

t.test('the per-IP cap refuses the (N+1)th socket and logs it; other addresses and, later, the same one still join', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--max-connections-per-ip', '3'])
  const idle = await openIdle(t, cli, 3)
  // The server accepts in the order the connections arrived: these come after the three.
  const extra = await openIdle(t, cli, 20)
  t.same(await outcome(extra), { taken: 0, refused: 20 }, 'every socket beyond the three is refused')

  const other = await join(`${cli.ws}/call/capped`, { localAddress: '127.0.0.2' })
  t.ok(other, 'a peer from another address joins meanwhile')

  t.same(await outcome(idle), { taken: 3, refused: 0 }, 'the three idle sockets were served, then closed by their timeout')
  // Read before joining again: a join the server refuses while it still counts the three is logged too.
  const lines = refusalLines(cli)
  const partner = await joinOnceFreed(`${cli.ws}/call/capped`)
  partner.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await other.next(), { method: 'NOTIFY', data: 'hello' }, 'once they are gone, 127.0.0.1 joins again')

  t.ok(lines.length > 0, 'the refusals are logged')
  for (const line of lines) {
    t.match(line, { remoteAddress: '127.0.0.1', msg: 'connection refused: the cap on connections from one address (--max-connections-per-ip 3) is reached' })
  }
  t.equal(lines.reduce((sum, line) => sum + 1 + Number(line.suppressed), 0), 20, 'each refusal is a line or counted in one')
  t.ok(lines.length < 20, `fewer lines than refusals (${lines.length})`)
  for (let i = 1; i < lines.length; i++) {
    t.ok(Number(lines[i].time) - Number(lines[i - 1].time) >= 990, 'at most one line a second')
  }
})

t.test(`by default one address may hold ${defaultMaxConnectionsPerIp} connections; 0 turns the cap off`, async t => {
  const capped = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q'])
  const sockets = await openIdle(t, capped, defaultMaxConnectionsPerIp + 1)
  t.same(await outcome(sockets), { taken: defaultMaxConnectionsPerIp, refused: 1 })

  const uncapped = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q', '--max-connections-per-ip', '0'])
  const more = await openIdle(t, uncapped, defaultMaxConnectionsPerIp + 20)
  t.same(await outcome(more), { taken: defaultMaxConnectionsPerIp + 20, refused: 0 })
})

t.test('--max-connections caps the connections from every address together, and logs', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--max-connections', '4', '--max-connections-per-ip', '0'])
  const first = [...await openIdle(t, cli, 2), ...await openIdle(t, cli, 2, '127.0.0.2')]
  const extra = [...await openIdle(t, cli, 3, '127.0.0.3'), ...await openIdle(t, cli, 3)]
  t.same(await outcome(extra), { taken: 0, refused: 6 })
  t.same(await outcome(first), { taken: 4, refused: 0 })
  const lines = refusalLines(cli)
  t.ok(lines.length > 0)
  t.match(lines[0], { msg: 'connection refused: the cap on connections (--max-connections 4) is reached' })
  t.equal(lines.reduce((sum, line) => sum + 1 + Number(line.suppressed), 0), 6)
  await joinOnceFreed(`${cli.ws}/call/after-the-cap`)
})

t.test('--workers: each worker counts its own connections per address', async t => {
  const redis = await RedisServer.start(t)
  const workers = 2
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--redis', redis.url, '--workers', String(workers),
    '--no-demo', '--max-connections-per-ip', '1'])
  const { taken, refused } = await outcome(await openIdle(t, cli, 4))
  t.ok(taken >= 1 && taken <= workers, `at most one per worker is taken (${taken})`)
  t.equal(taken + refused, 4, 'the others are refused')
  t.match(cli.stdout(), /connection refused: the cap on connections from one address \(--max-connections-per-ip 1\) is reached/)
  await joinOnceFreed(`${cli.ws}/call/workers-capped`)
})
