// example/server.ts runs as the README shows it and serves calls next to the app's own API.
import { spawn } from 'node:child_process'
import t from 'tap'
import { join } from './helpers/client.js'

// The same TypeScript loader tap runs the tests with.
const typescriptLoader = import.meta.resolve('@tapjs/typescript/import')

t.test('example/server.ts: the app\'s API and signaling under /rtc', async t => {
  const child = spawn(process.execPath, ['--import', typescriptLoader, 'example/server.ts'], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill() })
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', chunk => {
      out += String(chunk)
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (match !== null) resolve(match[1])
    })
    child.once('exit', code => reject(new Error(`exited ${code}: ${out}`)))
  })
  t.same(await (await fetch(`${url}/api/hello`)).json(), { hello: 'world' })
  const ws = url.replace('http', 'ws')
  const a = await join(`${ws}/rtc/call/example`)
  const b = await join(`${ws}/rtc/call/example`)
  a.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await b.next(), { method: 'NOTIFY', data: 'hello' })
})
