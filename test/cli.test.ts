// The standalone server as a process: flags, TLS, bad flags, signals.
import { readFileSync } from 'node:fs'
import { dirname, join as joinPath } from 'node:path'
import t from 'tap'
import { handshakeStatus, join } from './helpers/client.js'
import { makeCertificate, runCli, startCli, startCliOnChosenPort } from './helpers/cli.js'
import { parseCli, UsageError } from '../lib/cli-options.js'
import { pluginOptions } from '../lib/server.js'

t.test('with no flags it listens on tcp:127.0.0.1:8080 with the demo on', async t => {
  const request = parseCli([])
  t.same(request.help ? undefined : { ...request.config }, {
    transport: 'tcp',
    host: '127.0.0.1',
    port: 8080,
    logLevel: 'info',
    demo: true,
    metrics: false,
    certfile: undefined,
    keyfile: undefined,
    paths: undefined,
    hosts: undefined,
    origins: undefined,
    heartbeat: undefined,
    resumeGrace: undefined,
    maxRooms: undefined,
    maxPeers: undefined,
    iceServers: undefined,
    turnUrls: undefined,
    turnSecret: undefined,
    turnTtl: undefined,
    redis: undefined,
    workers: undefined,
    maxPayload: undefined,
    maxBufferedBytes: undefined,
    maxConnections: undefined,
    maxConnectionsPerIp: 256
  })
})

t.test('it prints the URL, serves the demo page, the client and /health, and relays calls', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0'])
  t.match(cli.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  t.match(cli.stdout(), /Open http:\/\/127\.0\.0\.1:\d+\/ in a browser tab/)
  const page = await fetch(cli.url)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(await page.text(), /<html|<!doctype/i)
  const client = await fetch(cli.url + 'client.js')
  t.equal(client.status, 200)
  t.match(client.headers.get('content-type'), /javascript/)
  const health = await fetch(cli.url + 'health')
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok', rooms: 0, peers: 0 })
  t.equal(await handshakeStatus(cli.ws + '/'), 404, 'a WebSocket upgrade to the demo page is a plain HTTP error, not a 101')

  const a = await join(`${cli.ws}/call/cli-room`)
  const b = await join(`${cli.ws}/call/cli-room`)
  a.send({ method: 'NOTIFY', data: { type: 'offer' } })
  t.same(await b.next(), { method: 'NOTIFY', data: { type: 'offer' } })
  t.equal(await handshakeStatus(`${cli.ws}/call/cli-room`), 400)
})

t.test('--no-demo turns the page off', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--no-demo'])
  t.equal((await fetch(cli.url)).status, 404)
  t.notMatch(cli.stdout(), /Open /)
})

t.test('--path, --host and --origin are the allow-lists, each repeatable', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--path', '/call/a', '--path', '/call/b',
    '--host', 'signal.example', '--host', 'other.example', '--origin', 'https://app.example'])
  const ok = { headers: { Host: 'signal.example' } }
  t.equal(await handshakeStatus(`${cli.ws}/call/a`, ok), 101)
  t.equal(await handshakeStatus(`${cli.ws}/call/b`, { headers: { Host: 'other.example' } }), 101)
  t.equal(await handshakeStatus(`${cli.ws}/call/c`, ok), 404)
  t.equal(await handshakeStatus(`${cli.ws}/call/a`), 403, 'Host not listed')
  t.equal(await handshakeStatus(`${cli.ws}/call/a`, { ...ok, origin: 'https://evil.example' }), 403)
  t.equal(await handshakeStatus(`${cli.ws}/call/a`, { ...ok, origin: 'https://app.example' }), 101)
})

t.test('--heartbeat: a peer that stops answering pings is dropped and its partner closed', async t => {
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--heartbeat', '0.2'])
  const silent = await join(`${cli.ws}/call/hb`, { autoPong: false })
  const partner = await join(`${cli.ws}/call/hb`)
  t.equal((await partner.closed).code, 1000, 'the partner of the silent peer is closed')
  t.equal((await silent.closed).code, 1006, 'the silent peer was cut off without a close frame')
})

t.test('tls: serves wss with the given certificate', async t => {
  const { cert, key } = makeCertificate(t)
  const cli = await startCli(t, ['-l', 'tls:127.0.0.1:0', '--certfile', cert, '--keyfile', key])
  t.match(cli.url, /^https:\/\/127\.0\.0\.1:\d+\/$/)
  const ca = readFileSync(cert)
  const a = await join(`${cli.ws}/call/secure`, { ca })
  const b = await join(`${cli.ws}/call/secure`, { ca })
  b.send({ method: 'NOTIFY', data: 'over tls' })
  t.same(await a.next(), { method: 'NOTIFY', data: 'over tls' })
  await t.rejects(join(`${cli.ws}/call/secure2`), 'a client that does not trust the certificate cannot connect')

  const missing = await runCli(['-l', 'tls:127.0.0.1:0', '--certfile', joinPath(dirname(cert), 'nope.pem'), '--keyfile', key])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /^rtc-notify: cannot read the TLS certificate or key: .*nope\.pem/)
})

t.test('bad flags: one line saying what is wrong, a usage hint, exit code 2, no stack trace', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['-l', 'tcp:127.0.0.1'], /invalid --listen "tcp:127.0.0.1"/],
    [['-l', 'udp:127.0.0.1:80'], /invalid --listen/],
    [['-l', 'tcp:127.0.0.1:99999'], /port 99999/],
    [['-l', 'tls:127.0.0.1:8443'], /needs both --certfile and --keyfile/],
    [['-l', 'tls:127.0.0.1:8443', '--certfile', 'c.pem'], /needs both --certfile and --keyfile/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /positional/i],
    [['--heartbeat', 'soon'], /invalid --heartbeat "soon"/],
    [['--heartbeat', '-1'], /^rtc-notify: invalid --heartbeat "-1": expected a number of seconds, 0 or more$/],
    [['--heartbeat=-1'], /invalid --heartbeat "-1": expected a number of seconds, 0 or more$/],
    [['--resume-grace', '-0.5'], /invalid --resume-grace "-0.5": expected a number of seconds, 0 or more$/],
    [['--queue-max-age', '-.5'], /invalid --queue-max-age "-.5": expected a number of seconds, 0 or more$/],
    [['--max-rooms', '-3'], /invalid --max-rooms "-3": expected a whole number, 1 or more$/],
    [['--turn-url', 'turn:x', '--turn-secret', 's', '--turn-ttl', '-60'], /invalid --turn-ttl "-60": expected a whole number, 1 or more$/],
    [['--max-rooms', '0'], /invalid --max-rooms "0"/],
    [['--max-payload', '0'], /invalid --max-payload "0": expected a whole number, 1 or more$/],
    [['--max-buffered-bytes', '0'], /invalid --max-buffered-bytes "0": expected a whole number, 1 or more$/],
    [['--max-payload', '1.5'], /invalid --max-payload "1.5"/],
    [['--max-payload', '-1024'], /invalid --max-payload "-1024": expected a whole number, 1 or more$/],
    [['--max-connections', '-1'], /invalid --max-connections "-1": expected a whole number, 0 or more$/],
    [['--max-connections-per-ip', 'many'], /invalid --max-connections-per-ip "many": expected a whole number, 0 or more$/],
    [['--path', 'call/x'], /invalid --path "call\/x": must start with \//],
    [['-d', '-q'], /--verbose and --quiet/],
    [['--turn-url', 'turn:x'], /--turn-url needs --turn-secret/],
    [['-l', 'tls:127.0.0.1:8443', '--certfile', 'c.pem', '--keyfile', 'k.pem', '--workers', '2'], /--workers cannot serve a tls: listener/],
    [['--workers', '0'], /invalid --workers "0"/],
    [['--listen'], /argument missing/]
  ]
  const results = await Promise.all(cases.map(async ([args]) => await runCli(args)))
  for (const [i, [args, pattern]] of cases.entries()) {
    const result = results[i]
    t.equal(result.code, 2, args.join(' '))
    const lines = result.stderr.trimEnd().split('\n')
    t.equal(lines.length, 2, 'two lines: the problem and the hint')
    t.match(lines[0], /^rtc-notify: /)
    t.match(lines[0], pattern)
    t.equal(lines[1], "Try 'rtc-notify --help' for more information.")
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
  }
})

t.test('--help prints the usage and exits 0', async t => {
  const result = await runCli(['--help'])
  t.equal(result.code, 0)
  t.match(result.stdout, /Usage: rtc-notify/)
  for (const flag of ['--listen', '--certfile', '--keyfile', '--path', '--host', '--origin', '--verbose', '--quiet', '--heartbeat', '--redis', '--no-demo',
    '--max-payload', '--max-buffered-bytes', '--max-connections N', '--max-connections-per-ip N']) {
    t.match(result.stdout, flag)
  }
})

t.test('the turn secret may come from the environment', async t => {
  const request = parseCli(['--turn-url', 'turn:t.example'], { RTC_NOTIFY_TURN_SECRET: 's3cret' })
  t.equal(request.help ? undefined : request.config.turnSecret, 's3cret')
  t.throws(() => parseCli(['--turn-url', 'turn:t.example'], { RTC_NOTIFY_TURN_SECRET: '' }), UsageError)
})

t.test('SIGTERM and SIGINT: peers get 1001 and the process exits 0', async t => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0'])
    const a = await join(`${cli.ws}/call/bye`)
    const b = await join(`${cli.ws}/call/bye`)
    cli.child.kill(signal)
    t.equal((await a.closed).code, 1001, signal)
    t.equal((await b.closed).code, 1001, signal)
    t.equal(await cli.exited, 0, `${signal}: exit code 0`)
  }
})

t.test('logging: info shows rooms and refusals, never frames; -d shows frames; -q shows nothing', async t => {
  const info = await startCli(t, ['-l', 'tcp:127.0.0.1:0'])
  const a = await join(`${info.ws}/call/logged`)
  a.send({ method: 'NOTIFY', data: 'secret-sdp' })
  await join(`${info.ws}/call/logged`)
  t.equal(await handshakeStatus(`${info.ws}/call/logged`), 400)
  a.close()
  await (await join(`${info.ws}/call/other`)).get('/peerconnection')
  info.child.kill('SIGTERM')
  await info.exited
  const lines = info.stdout().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
  t.ok(lines.some(l => l.msg === 'room created' && l.room === 'logged' && l.level === 30))
  t.ok(lines.some(l => l.msg === 'room deleted' && l.room === 'logged' && l.level === 30))
  t.ok(lines.some(l => l.level === 30 && /room is full/.test(String(l.msg))), 'the refusal is logged at info')
  t.notMatch(info.stdout(), /secret-sdp|"frame"/, 'no frames at info')

  const debug = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-d'])
  const d = await join(`${debug.ws}/call/dbg`)
  await d.get('/peerconnection')
  debug.child.kill('SIGTERM')
  await debug.exited
  t.match(debug.stdout(), /"level":20.*"msg":"frame"/)

  const quiet = await startCliOnChosenPort(t, ['-q'])
  await (await join(`${quiet.ws}/call/q`)).get('/peerconnection')
  await join(`${quiet.ws}/call/q`)
  t.equal(await handshakeStatus(`${quiet.ws}/call/q`), 400, 'a refusal, which info would log')
  quiet.child.kill('SIGTERM')
  t.equal(await quiet.exited, 0)
  t.equal(quiet.stdout(), '', '-q prints nothing: no banner, no log line')
  t.equal(quiet.stderr(), '')

  const chosen = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q'])
  chosen.child.kill('SIGTERM')
  t.equal(await chosen.exited, 0)
  t.match(chosen.stdout(), /^rtc-notify listening on http:\/\/127\.0\.0\.1:\d+\/\n$/, 'with port 0, only the URL: the one way to learn the port')
})

t.test('--max-buffered-bytes is handed to the plugin as maxBufferedBytes (its effect: test/memory-bounds.test.ts)', async t => {
  const request = parseCli(['--max-buffered-bytes', '65536'])
  t.equal(request.help ? undefined : pluginOptions(request.config).maxBufferedBytes, 65536)
  const unset = parseCli([])
  t.equal(unset.help ? null : pluginOptions(unset.config).maxBufferedBytes, undefined, 'the plugin default (1 MiB) otherwise')
})

t.test('--max-payload sets the largest frame a peer may send', async t => {
  const request = parseCli(['--max-payload', '1024'])
  t.equal(request.help ? undefined : pluginOptions(request.config).maxPayload, 1024, 'handed to the plugin as maxPayload')
  const cli = await startCli(t, ['-l', 'tcp:127.0.0.1:0', '-q', '--max-payload', '1024'])
  const a = await join(`${cli.ws}/call/payload`)
  const b = await join(`${cli.ws}/call/payload`)
  const fits = 'x'.repeat(900)
  a.send({ method: 'NOTIFY', data: fits })
  t.same(await b.next(), { method: 'NOTIFY', data: fits }, 'a frame under the limit is relayed')
  a.send({ method: 'NOTIFY', data: 'y'.repeat(2000) })
  const refused = await Promise.race([
    a.closed.then(({ code }) => `closed ${code}`),
    a.next().then(frame => `answered ${String(frame.code)}`)
  ])
  t.match(refused, /^(closed 1009|answered failed)$/, `a frame over it is refused (${refused})`)
})
