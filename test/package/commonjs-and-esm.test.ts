// The packed package in a CommonJS app: require() and import() of every entry, TypeScript
// compiled to CommonJS (node10 and node16 resolution) and to ESM, the metrics in the app's own
// prom-client registry, and the Redis entry from both builds on one redis-server; prom-client
// and ioredis at the low ends of their peer ranges.
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join as joinPath } from 'node:path'
import t from 'tap'
import { join } from '../helpers/client.js'
import { RedisServer } from '../redis/redis-server.js'
import { installApp, pack, relays, startApp, stopsCleanly, tsc, type App, type Finished } from './packed.js'

// As a CommonJS Fastify app writes it, with prom-client metrics of its own.
const commonjsApp = `'use strict'
const Fastify = require('fastify')
const notify = require('fastify-rtc-notify')
const { Counter } = require('prom-client')
const client = require('fastify-rtc-notify/client')

async function main () {
  new Counter({ name: 'app_hits_total', help: 'the app\\'s own metric' }).inc(3)
  const app = Fastify()
  const store = process.env.REDIS_URL === undefined ? undefined : require('fastify-rtc-notify/redis').redisStore({ url: process.env.REDIS_URL })
  await app.register(notify, { metrics: true, store })
  await app.listen({ host: '127.0.0.1', port: 0 })
  console.log(JSON.stringify({
    port: app.server.address().port,
    exports: typeof notify,
    defaultIsNotify: notify.default === notify.notify,
    memoryStore: typeof notify.memoryStore,
    decorated: typeof app.notify.stats,
    connect: typeof client.connect
  }))
  process.stdin.resume()
  process.stdin.once('end', () => { app.close().catch(err => { console.error(err); process.exitCode = 1 }) })
}
main().catch(err => { console.error(err); process.exitCode = 1 })
`

// An ES module app in the same project, which also loads the CommonJS build on a second app,
// as a dependency that require()s the package would: both register metrics in one registry.
const esmApp = `import { createRequire } from 'node:module'
import Fastify from 'fastify'
import notify from 'fastify-rtc-notify'
import { connect } from 'fastify-rtc-notify/client'

const cjs = createRequire(import.meta.url)('fastify-rtc-notify')
const store = process.env.REDIS_URL === undefined ? undefined : (await import('fastify-rtc-notify/redis')).redisStore({ url: process.env.REDIS_URL })
const app = Fastify()
await app.register(notify, { metrics: true, store })
const other = Fastify()
await other.register(cjs, { metrics: { route: false } })
await app.listen({ host: '127.0.0.1', port: 0 })
await other.ready()
console.log(JSON.stringify({ port: app.server.address().port, twoBuilds: cjs.notify !== notify, connect: typeof connect }))
process.stdin.resume()
process.stdin.once('end', () => { Promise.all([app.close(), other.close()]).catch(err => { console.error(err); process.exitCode = 1 }) })
`

// A TypeScript app as the README shows it, compiled by each tsconfig below.
const typescriptApp = `import Fastify from 'fastify'
import notify, { memoryStore, type NotifyOptions } from 'fastify-rtc-notify'
import type { RedisStoreOptions } from 'fastify-rtc-notify/redis'
import type { AddressInfo } from 'node:net'

const redis: RedisStoreOptions = { url: 'redis://127.0.0.1:6379', prefix: 'app:' }
const options: NotifyOptions = { store: memoryStore(), maxPeers: 100, health: true }

async function main (): Promise<void> {
  const app = Fastify()
  await app.register(notify, options)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const stats: { rooms: number, peers: number } = app.notify.stats()
  const available: boolean = app.notify.available()
  console.log(JSON.stringify({ port, stats, available, prefix: redis.prefix }))
  process.stdin.resume()
  process.stdin.once('end', () => { app.close().catch((err: unknown) => { console.error(err); process.exitCode = 1 }) })
}
main().catch((err: unknown) => { console.error(err); process.exitCode = 1 })
`

// skipLibCheck false: the package's declarations and what they import must check in a strict
// consumer. The standard library's own files are left out (skipDefaultLibCheck): not ours, and
// most of the time.
const strict = { target: 'ES2022', lib: ['ES2022'], strict: true, skipLibCheck: false, skipDefaultLibCheck: true, esModuleInterop: true, types: ['node'] }

/** Samples of Prometheus text as `name{labels}` → value. */
function samples (text: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const match of text.matchAll(/^([^#\s]\S*) (\S+)$/gm)) found.set(match[1], Number(match[2]))
  return found
}

let app: App
let compiled: { node10: Finished, node16: Finished }

t.before(async () => {
  const tarball = await pack(t)
  // The low ends of the peer ranges: prom-client 15.0.0, ioredis 5.3.0 (its first version with
  // a named Redis export); and @types/node 20.
  app = await installApp(t, tarball, { type: 'commonjs', packages: ['prom-client@15.0.0', 'ioredis@5.3.0', '@types/node@20'] })
  await app.write('app.js', commonjsApp)
  await app.write('app.mjs', esmApp)
  await app.write('ts/app.ts', typescriptApp)
  await app.write('ts/app-esm.mts', typescriptApp)
  await app.write('tsconfig.node10.json', JSON.stringify({
    compilerOptions: { ...strict, module: 'CommonJS', moduleResolution: 'Node10', outDir: 'out-node10' },
    files: ['ts/app.ts']
  }))
  await app.write('tsconfig.node16.json', JSON.stringify({
    compilerOptions: { ...strict, module: 'Node16', moduleResolution: 'Node16', outDir: 'out-node16' },
    files: ['ts/app.ts', 'ts/app-esm.mts']
  }))
  const [node10, node16] = await Promise.all([tsc(app.dir, 'tsconfig.node10.json'), tsc(app.dir, 'tsconfig.node16.json')])
  compiled = { node10, node16 }
})

t.test('peers are the app\'s: fastify and prom-client are not nested in the package', async t => {
  t.ok(app.has('fastify'), 'npm installed the fastify peer')
  t.notOk(app.has('fastify-rtc-notify/node_modules/fastify'))
  t.notOk(app.has('fastify-rtc-notify/node_modules/prom-client'))
})

t.test('every source map and declaration map points at a file the package ships', async t => {
  const dist = joinPath(app.dir, 'node_modules/fastify-rtc-notify/dist')
  const maps = (await readdir(dist, { recursive: true })).filter(file => file.endsWith('.map'))
  t.ok(maps.length > 50, `${maps.length} maps`)
  const missing: string[] = []
  for (const map of maps) {
    const { sources } = JSON.parse(await readFile(joinPath(dist, map), 'utf8')) as { sources: string[] }
    for (const source of sources) {
      if (!existsSync(joinPath(dist, dirname(map), source))) missing.push(`${map}: ${source}`)
    }
  }
  t.same(missing, [])
})

t.test('require(): the CommonJS build, metrics in the app\'s default registry', async t => {
  const running = await startApp(t, app.dir, ['app.js'])
  t.match(running.info, { exports: 'object', defaultIsNotify: true, memoryStore: 'function', connect: 'function' })
  t.equal(running.info.decorated, 'function', 'register(require(...)) decorates the app (fastify unwraps .default)')
  const peers = await relays(t, running.ws)
  const metrics = samples(await (await fetch(`http://127.0.0.1:${running.info.port}/metrics`)).text())
  t.equal(metrics.get('notify_peers'), 2, 'the plugin\'s metrics')
  t.equal(metrics.get('app_hits_total'), 3, 'next to the app\'s own, in one registry')
  await stopsCleanly(t, running, peers)
})

t.test('import: the ES module build, loaded next to the CommonJS one', async t => {
  const running = await startApp(t, app.dir, ['app.mjs'])
  t.match(running.info, { twoBuilds: true, connect: 'function' })
  const peers = await relays(t, running.ws)
  const metrics = samples(await (await fetch(`http://127.0.0.1:${running.info.port}/metrics`)).text())
  t.equal(metrics.get('notify_peers'), 2, 'both builds count into one set of series')
  await stopsCleanly(t, running, peers)
})

t.test('TypeScript, module CommonJS with node10 resolution, strict, skipLibCheck false', async t => {
  t.equal(compiled.node10.code, 0, compiled.node10.stdout)
  const running = await startApp(t, app.dir, ['out-node10/app.js'])
  t.match(running.info, { stats: { rooms: 0, peers: 0 }, available: true })
  await stopsCleanly(t, running, await relays(t, running.ws))
})

t.test('TypeScript, module node16: a CommonJS and an ES module file', async t => {
  t.equal(compiled.node16.code, 0, compiled.node16.stdout)
  for (const file of ['out-node16/app.js', 'out-node16/app-esm.mjs']) {
    const running = await startApp(t, app.dir, [file])
    t.match(running.info, { available: true }, file)
    await stopsCleanly(t, running, await relays(t, running.ws))
  }
})

t.test('fastify-rtc-notify/redis from require() and import, one call across the two', async t => {
  const redis = await RedisServer.start(t)
  const env = { REDIS_URL: redis.url }
  const one = await startApp(t, app.dir, ['app.js'], { env })
  const two = await startApp(t, app.dir, ['app.mjs'], { env })
  const a = await join(`${one.ws}/call/split`)
  const b = await join(`${two.ws}/call/split`)
  a.send({ method: 'NOTIFY', data: 'through redis' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'through redis' })
  for (const running of [one, two]) {
    const finished = await running.stop()
    t.equal(finished.code, 0, `exits 0 once closed ${finished.stderr}`)
  }
})
