// --trust-proxy: the forms of Fastify's trustProxy that name whom to trust, checked on the
// command line (what they do behind a real proxy: test/proxy/nginx.test.ts).
import t from 'tap'
import { parseCli, UsageError } from '../../lib/cli-options.js'

function trustProxy (...argv: string[]): unknown {
  const request = parseCli(argv)
  return request.help ? undefined : request.config.trustProxy
}

t.test('absent: no proxy is trusted', async t => {
  t.equal(trustProxy(), undefined)
})

t.test('addresses, CIDR ranges and named ranges, comma-separated and repeatable', async t => {
  t.same(trustProxy('--trust-proxy', '127.0.0.1'), ['127.0.0.1'])
  t.same(trustProxy('--trust-proxy', '10.0.0.0/8, 192.168.1.7', '--trust-proxy', '::1,fd00::/8'),
    ['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8'])
  t.same(trustProxy('--trust-proxy', 'loopback,linklocal,uniquelocal'), ['loopback', 'linklocal', 'uniquelocal'])
})

t.test('true: every peer', async t => {
  t.equal(trustProxy('--trust-proxy', 'true'), true)
})

t.test('anything else is a usage error naming the entry', async t => {
  for (const [value, message] of [
    ['1', /^invalid --trust-proxy "1": expected true, or the proxies' IP addresses/],
    ['nginx.internal', /^invalid --trust-proxy "nginx\.internal"/],
    ['10.0.0.0/33', /^invalid --trust-proxy "10\.0\.0\.0\/33"/],
    ['::1/129', /^invalid --trust-proxy "::1\/129"/],
    ['10.0.0.0/8/8', /^invalid --trust-proxy "10\.0\.0\.0\/8\/8"/],
    ['10.0.0.1,', /^invalid --trust-proxy "":/],
    ['false', /^invalid --trust-proxy "false"/],
    ['true,127.0.0.1', /^--trust-proxy true trusts every peer: it takes no addresses besides$/]
  ] as const) {
    t.throws(() => parseCli(['--trust-proxy', value]), { name: UsageError.name, message }, value)
  }
})
