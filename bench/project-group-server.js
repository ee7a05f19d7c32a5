#!/usr/bin/env node
// The project's standalone server with rooms of N, for the bench's group case, while the
// checkout's rtc-notify has no --room-size of its own (bench/lib/targets.js uses
// `rtc-notify --room-size N` as soon as its --help lists it, and this file can go then).
// It reads the same command line as rtc-notify (through the checkout's own parseCli and
// pluginOptions) and builds what lib/server.ts builds for a relay: the plugin with those
// options plus `roomSize`, and the connection caps. What it leaves out (the demo page, the
// socket timeouts of plain HTTP requests) is not on the path of a relayed frame.
//
//   node bench/project-group-server.js PROJECT_DIR --room-size N [rtc-notify flags]
// prints `rtc-notify listening on http://HOST:PORT/` on stdout.
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [projectDir, ...argv] = process.argv.slice(2)
const at = argv.indexOf('--room-size')
const roomSize = at === -1 ? NaN : Number(argv[at + 1])
if (projectDir === undefined || !Number.isInteger(roomSize)) {
  process.stderr.write('usage: node bench/project-group-server.js PROJECT_DIR --room-size N [rtc-notify flags]\n')
  process.exit(2)
}
argv.splice(at, 2)

const dist = file => import(pathToFileURL(path.join(projectDir, 'dist', file)).href)
const { parseCli } = await dist('cli-options.js')
const { pluginOptions } = await dist('server.js')
const { notify } = await dist('plugin.js')
const { capConnections, maxConnectionsByDefault } = await dist('connection-caps.js')
const Fastify = (await import(pathToFileURL(createRequire(path.join(projectDir, 'package.json')).resolve('fastify')).href)).default

const request = parseCli(argv, process.env)
if (request.help) process.exit(0)
const config = request.config
const store = config.redis === undefined ? undefined : (await dist('stores/redis.js')).redisStore({ url: config.redis })
const app = Fastify({ logger: { level: config.logLevel }, forceCloseConnections: true })
capConnections(app.server, { total: config.maxConnections ?? maxConnectionsByDefault(), perAddress: config.maxConnectionsPerIp }, app.log)
await app.register(notify, { ...pluginOptions(config, store), serveClient: false, roomSize })
await app.listen({ host: config.host, port: config.port })
const { port } = app.server.address()
process.stdout.write(`rtc-notify listening on http://${config.host}:${port}/\n`)

const stop = () => {
  app.close().then(() => process.exit(0), () => process.exit(1))
  setTimeout(() => process.exit(1), 5000).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
