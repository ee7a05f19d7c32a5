// Metrics in Prometheus text format and /health, scraped from a real server.
import { Registry, Counter } from 'prom-client'
import t from 'tap'
import { handshakeStatus, join, until } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'

/** Parses Prometheus text format into `name{labels}` → value. */
function parse (text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^(\S+) (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    samples.set(match[1], Number(match[2]))
  }
  return samples
}

async function scrape (url: string): Promise<Map<string, number>> {
  const res = await fetch(url)
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
  if (!/^text\/plain/.test(res.headers.get('content-type') ?? '')) throw new Error('not Prometheus text')
  return parse(await res.text())
}

t.test('GET /metrics counts rooms, peers, relayed, queued, rejected frames and handshakes', async t => {
  const registry = new Registry()
  const server = await startServer(t, { metrics: { registry }, maxRooms: 2, messageRate: 1e-3, messageBurst: 6 })
  const room = freshRoom()
  const a = await join(server.room(room))
  a.send({ method: 'NOTIFY', data: 'queued' })
  t.equal((await a.get('/peerconnection')).code, 'success')
  const b = await join(server.room(room))
  await b.next()
  a.send({ method: 'NOTIFY', data: 'relayed' })
  a.send({ method: 'NOTIFY', data: 'relayed' })
  await b.next()
  await b.next()
  a.send('not json')
  await a.next()
  a.send({ method: 'NOTIFY' })
  await a.next()
  t.equal(await handshakeStatus(server.room(room)), 400)
  t.equal(await handshakeStatus(server.room('bad%2Fid')), 400)
  await join(server.room(freshRoom()))
  t.equal(await handshakeStatus(server.room(freshRoom())), 503)

  const m = await scrape(`${server.http}/metrics`)
  t.equal(m.get('notify_rooms'), 2)
  t.equal(m.get('notify_peers'), 3)
  t.equal(m.get('notify_messages_relayed_total'), 2)
  t.equal(m.get('notify_messages_queued_total'), 1)
  t.equal(m.get('notify_frames_rejected_total{reason="not_json"}'), 1)
  t.equal(m.get('notify_frames_rejected_total{reason="missing_data"}'), 1)
  t.equal(m.get('notify_handshakes_rejected_total{status="400"}'), 2)
  t.equal(m.get('notify_handshakes_rejected_total{status="503"}'), 1)

  a.send({ method: 'NOTIFY', data: 'over the limit' }) // the 7th frame: rate limited
  t.same(await a.next(), { code: 'failed', reason: 'rate limited' })
  const again = await scrape(`${server.http}/metrics`)
  t.equal(again.get('notify_messages_relayed_total'), 2, 'counters keep their totals across scrapes')
  t.equal(again.get('notify_frames_rejected_total{reason="rate_limited"}'), 1)
  t.equal(again.get('notify_frames_rejected_total{reason="not_json"}'), 1)
})

t.test('by default the metrics join prom-client\'s default registry, next to the app\'s own', async t => {
  const { register } = await import('prom-client')
  const own = new Counter({ name: 'app_requests_total', help: 'the app\'s own metric' })
  own.inc(5)
  t.teardown(() => register.removeSingleMetric('app_requests_total'))
  const server = await startServer(t, { metrics: true })
  await join(server.room(freshRoom()))
  const m = parse(await register.metrics())
  t.equal(m.get('app_requests_total'), 5)
  t.equal(m.get('notify_peers'), 1)
  const served = await scrape(`${server.http}/metrics`)
  t.equal(served.get('app_requests_total'), 5, 'GET /metrics serves the whole registry')
})

t.test('route: false registers the metrics without serving GET /metrics', async t => {
  const registry = new Registry()
  const server = await startServer(t, { metrics: { registry, route: false } })
  t.equal((await fetch(`${server.http}/metrics`)).status, 404)
  await join(server.room(freshRoom()))
  t.equal(parse(await registry.metrics()).get('notify_peers'), 1)
})

t.test('two apps in one process share one registry\'s series', async t => {
  const registry = new Registry()
  const one = await startServer(t, { metrics: { registry } })
  const two = await startServer(t, { metrics: { registry, route: false } })
  await join(one.room(freshRoom()))
  await join(two.room(freshRoom()))
  t.equal(parse(await registry.metrics()).get('notify_peers'), 2)
  await two.app.close()
  await until(async () => parse(await registry.metrics()).get('notify_peers') === 1)
})

t.test('no metrics unless asked', async t => {
  const server = await startServer(t)
  t.equal((await fetch(`${server.http}/metrics`)).status, 404)
})

t.test('GET /health and fastify.notify', async t => {
  const server = await startServer(t, { health: true, prefix: '/rtc' })
  const res = await fetch(`${server.http}/rtc/health`)
  t.equal(res.status, 200)
  t.same(await res.json(), { status: 'ok', rooms: 0, peers: 0 })
  const a = await join(server.room(freshRoom()))
  t.same(await (await fetch(`${server.http}/rtc/health`)).json(), { status: 'ok', rooms: 1, peers: 1 })
  t.same(server.app.notify.stats(), { rooms: 1, peers: 1 }, 'fastify.notify.stats()')
  t.equal(server.app.notify.available(), true)
  const closing = server.app.close()
  await until(() => !server.app.notify.available())
  t.pass('not available once closing')
  await closing
  await a.closed
})
