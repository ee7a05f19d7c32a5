// Every TypeScript snippet of the README compiles under strict, against the package's own source;
// the complete programs it shows are the example files, which other tests run.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const repo = fileURLToPath(new URL('..', import.meta.url))
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/** The README's ```ts blocks, with the line each starts on. */
function snippets (): Array<{ line: number, code: string }> {
  const found = []
  const fence = /^```ts\n([\s\S]*?)^```$/gm
  for (let match = fence.exec(readme); match !== null; match = fence.exec(readme)) {
    found.push({ line: readme.slice(0, match.index).split('\n').length + 1, code: match[1] })
  }
  return found
}

// A fragment that uses `app` or `notify` without making them gets what the README's first
// example made (an app, the plugin imported).
function program (code: string): string {
  const head: string[] = []
  const uses = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(code)
  if (uses('notify') && !/import notify\b|import \{[^}]*\bnotify\b/.test(code)) head.push("import notify from 'fastify-rtc-notify'")
  if (uses('app') && !/\bconst app\b/.test(code)) {
    if (!/import Fastify\b/.test(code)) head.push("import Fastify from 'fastify'")
    head.push('const app = Fastify()')
  }
  return `${head.join('\n')}\n${code}\nexport {}\n`
}

t.test('every TypeScript snippet of the README compiles under strict', async t => {
  const list = snippets()
  t.ok(list.length >= 6, `${list.length} snippets`)
  const dir = `${repo}node_modules/.cache/readme-snippets`
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  writeFileSync(`${dir}/package.json`, '{ "type": "module" }\n')
  const files = list.map((snippet, i) => {
    const file = `snippet-${i}-line-${snippet.line}.ts`
    writeFileSync(`${dir}/${file}`, program(snippet.code))
    return file
  })
  writeFileSync(`${dir}/tsconfig.json`, JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      types: ['node'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      paths: {
        'fastify-rtc-notify': [`${repo}lib/index.ts`],
        'fastify-rtc-notify/redis': [`${repo}lib/redis.ts`],
        'fastify-rtc-notify/client': [`${repo}lib/client.ts`]
      }
    },
    files
  }))
  const tsc = spawnSync(process.execPath, [`${repo}node_modules/typescript/bin/tsc`, '-p', dir], { encoding: 'utf8' })
  t.equal(tsc.status, 0, tsc.stdout || 'compiled')
})

t.test('the complete programs the README shows are the example files, word for word', async t => {
  for (const file of ['example/server.ts', 'example/nginx.conf']) {
    const source = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8').trimEnd()
    t.ok(readme.includes(source), `${file} is in the README as it is`)
  }
})
