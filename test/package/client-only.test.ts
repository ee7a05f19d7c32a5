// A front-end that only wants the browser client: installed with --omit=peer (no fastify, no
// optional peers), bundled with esbuild from both builds, type-checked with DOM types and no
// Node types, and the bundle run against a real server.
import { join as joinPath } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import t from 'tap'
import WebSocket from 'ws'
import { freshRoom, startServer } from '../helpers/server.js'
import { installApp, pack, tsc, type App } from './packed.js'

let app: App

t.before(async () => {
  app = await installApp(t, await pack(t), { type: 'module', npmArgs: ['--omit=peer'] })
  await app.write('src/call.js', 'export { connect } from \'fastify-rtc-notify/client\'\n')
  await app.write('src/call.cjs', 'module.exports = { connect: require(\'fastify-rtc-notify/client\').connect }\n')
  await app.write('src/typed.ts', `import { connect, NotifyError, type NotifyClient } from 'fastify-rtc-notify/client'

const client: NotifyClient = connect({ roomId: 'abc', url: '/rtc' })
client.addEventListener('notify', event => console.log(event.detail))
client.addEventListener('error', event => { if (event.detail instanceof NotifyError) console.log(event.detail.kind) })
export const configuration: Promise<RTCConfiguration> = client.getConfiguration()
`)
  // A front-end project: DOM types, no Node types, a bundler's resolution.
  await app.write('tsconfig.json', JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      module: 'ESNext',
      moduleResolution: 'Bundler',
      types: [],
      strict: true,
      skipLibCheck: false,
      skipDefaultLibCheck: true,
      noEmit: true
    },
    files: ['src/typed.ts']
  }))
})

/** Bundles an entry of the app for browsers; returns the code and the files it took in. */
async function bundle (entry: string): Promise<{ code: string, inputs: string[] }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: app.dir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent'
  })
  return { code: result.outputFiles[0].text, inputs: Object.keys(result.metafile.inputs).sort() }
}

t.test('npm install --omit=peer installs neither fastify nor the optional peers', async t => {
  t.ok(app.has('fastify-rtc-notify'))
  t.notOk(app.has('fastify'), 'no fastify')
  t.notOk(app.has('ioredis'), 'no ioredis')
  t.notOk(app.has('prom-client'), 'no prom-client')
})

t.test('the client\'s types check with DOM types and without Node types', async t => {
  const compiled = await tsc(app.dir, 'tsconfig.json')
  t.equal(compiled.code, 0, compiled.stdout)
})

t.test('esbuild bundles the client from import and from require, and nothing else', async t => {
  const esm = await bundle('src/call.js')
  const modules = ['client-call.js', 'client-notify.js', 'client-peer.js', 'client.js', 'wire.js']
  t.same(esm.inputs, [...modules.map(m => `node_modules/fastify-rtc-notify/dist/${m}`), 'src/call.js'])
  const cjs = await bundle('src/call.cjs')
  t.same(cjs.inputs, [...modules.map(m => `node_modules/fastify-rtc-notify/dist/cjs/${m}`), 'src/call.cjs'])
})

t.test('the bundled client relays a NOTIFY through a real server', async t => {
  const { code } = await bundle('src/call.js')
  await app.write('dist/call.js', code)
  // The bundle is for browsers; here ws stands in for the browser's WebSocket.
  const global = globalThis as { WebSocket?: unknown }
  const had = global.WebSocket
  global.WebSocket = WebSocket
  t.teardown(() => { global.WebSocket = had })
  const { connect } = await import(pathToFileURL(joinPath(app.dir, 'dist/call.js')).href) as typeof import('../../lib/client.js')
  const server = await startServer(t)
  const room = server.room(freshRoom())
  const a = connect(room)
  const b = connect(room)
  t.teardown(() => { a.close(); b.close() })
  await Promise.all([a.ready, b.ready])
  const received = new Promise<unknown>(resolve => b.addEventListener('notify', event => resolve(event.detail), { once: true }))
  a.notify({ sdp: 'offer' })
  t.same(await received, { sdp: 'offer' })
})
