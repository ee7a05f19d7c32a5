// The packed package at the low end of its peer range: fastify 5.0.0, and neither of the
// optional peers (prom-client, ioredis) installed.
import { readFile } from 'node:fs/promises'
import { join as joinPath } from 'node:path'
import t from 'tap'
import { join } from '../helpers/client.js'
import { installApp, pack, relays, run, startApp, stopsCleanly, tsc, type App, type Finished } from './packed.js'

const lowestFastify = '5.0.0'

const plainApp = `import Fastify from 'fastify'
import notify from 'fastify-rtc-notify'

const app = Fastify()
await app.register(notify)
await app.listen({ host: '127.0.0.1', port: 0 })
console.log(JSON.stringify({ port: app.server.address().port, stats: app.notify.stats() }))
process.stdin.resume()
process.stdin.once('end', () => { app.close().catch(err => { console.error(err); process.exitCode = 1 }) })
`

// Prints what went wrong, as JSON, for each way of asking for what is not installed.
const missingPeers = `import { createRequire } from 'node:module'
import Fastify from 'fastify'
import notify from 'fastify-rtc-notify'

const outcome = async (attempt) => {
  try {
    await attempt()
    return 'ok'
  } catch (err) {
    return { code: err.code, message: err.message.split('\\n')[0] }
  }
}
console.log(JSON.stringify({
  metrics: await outcome(async () => {
    const app = Fastify()
    try { await app.register(notify, { metrics: true }) } finally { await app.close() }
  }),
  importRedis: await outcome(() => import('fastify-rtc-notify/redis')),
  requireRedis: await outcome(async () => createRequire(import.meta.url)('fastify-rtc-notify/redis'))
}))
`

const typedApp = `import Fastify from 'fastify'
import notify, { type NotifyOptions } from 'fastify-rtc-notify'
import type { AddressInfo } from 'node:net'

const options: NotifyOptions = { maxPeers: 100, health: true, metrics: false }
const app = Fastify()
await app.register(notify, options)
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as AddressInfo
const stats: { rooms: number, peers: number } = app.notify.stats()
const available: boolean = app.notify.available()
console.log(JSON.stringify({ port, stats, available }))
process.stdin.resume()
process.stdin.once('end', () => { app.close().catch((err: unknown) => { console.error(err); process.exitCode = 1 }) })
`

let app: App
let compiled: Finished

t.before(async () => {
  app = await installApp(t, await pack(t), { type: 'module', packages: [`fastify@${lowestFastify}`, '@types/node@20'] })
  await app.write('app.js', plainApp)
  await app.write('missing-peers.js', missingPeers)
  await app.write('typed/app.ts', typedApp)
  await app.write('tsconfig.json', JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      skipLibCheck: false,
      // The standard library's files are not ours to check, and the most of the time.
      skipDefaultLibCheck: true,
      types: ['node'],
      outDir: 'out'
    },
    files: ['typed/app.ts']
  }))
  compiled = await tsc(app.dir, 'tsconfig.json')
})

t.test('installed with fastify 5.0.0, without prom-client and ioredis', async t => {
  const fastify = JSON.parse(await readFile(joinPath(app.dir, 'node_modules/fastify/package.json'), 'utf8')) as { version: string }
  t.equal(fastify.version, lowestFastify)
  t.notOk(app.has('prom-client'))
  t.notOk(app.has('ioredis'))
})

t.test('the plugin on fastify 5.0.0, metrics off: relays and closes', async t => {
  const running = await startApp(t, app.dir, ['app.js'])
  t.same(running.info.stats, { rooms: 0, peers: 0 }, 'app.notify')
  await stopsCleanly(t, running, await relays(t, running.ws))
})

t.test('asking for what is not installed names the package to install', async t => {
  const { code, stdout, stderr } = await run(process.execPath, ['missing-peers.js'], app.dir)
  t.equal(code, 0, stderr)
  const outcome = JSON.parse(stdout) as Record<string, { code: string, message: string }>
  t.match(outcome.metrics, { code: 'FST_RTC_NOTIFY_INVALID_OPTION', message: /"metrics".*npm install prom-client/ })
  t.match(outcome.importRedis, { code: 'ERR_MODULE_NOT_FOUND', message: /'ioredis'/ })
  t.match(outcome.requireRedis, { code: 'MODULE_NOT_FOUND', message: /'ioredis'/ })
})

t.test('TypeScript against fastify 5.0.0\'s types: app.notify, strict, skipLibCheck false', async t => {
  // lib/options.ts imports prom-client's Registry type, which dist/options.d.ts keeps: a
  // consumer without prom-client gets TS2307 there (see the packaging notes of issue 11).
  t.equal(compiled.code, 0, compiled.stdout)
  // tsc emits despite errors in the package's declarations: the app itself runs.
  const running = await startApp(t, app.dir, ['out/app.js'])
  t.match(running.info, { stats: { rooms: 0, peers: 0 }, available: true })
  await stopsCleanly(t, running, await relays(t, running.ws))
})

t.test('rtc-notify from the package\'s bin, without ioredis, on fastify 5.0.0', async t => {
  const bin = joinPath(app.dir, 'node_modules/.bin/rtc-notify')
  const redis = await run(process.execPath, [bin, '--redis', 'redis://127.0.0.1:1', '-l', 'tcp:127.0.0.1:0'], app.dir)
  t.equal(redis.code, 1, '--redis without ioredis fails')
  t.match(redis.stderr.trim(), /^rtc-notify: [^\n]*\bioredis\b[^\n]*$/, 'with one line naming the package to install')
  const running = await startApp(t, app.dir, [bin, '-l', 'tcp:127.0.0.1:0'], {
    listening: stdout => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)
      return match === null ? undefined : { port: Number(match[1]) }
    }
  })
  const a = await join(`${running.ws}/call/cli`)
  const b = await join(`${running.ws}/call/cli`)
  a.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'hello' })
})
