// --redis-cluster: the standalone server on a Redis Cluster, as the command line says.
import t from 'tap'
import { parseCli } from '../../lib/cli-options.js'

t.test('--redis-cluster takes node URLs, repeated', async t => {
  const request = parseCli(['--redis-cluster', 'redis://10.0.0.1:7000', '--redis-cluster', 'rediss://user:secret@10.0.0.2:7000'])
  t.match(request, { help: false, config: { redisCluster: ['redis://10.0.0.1:7000', 'rediss://user:secret@10.0.0.2:7000'], redis: undefined } })
})

t.test('wrong values are one-line usage errors', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['--redis-cluster', '10.0.0.1:7000'], /invalid --redis-cluster "10.0.0.1:7000": expected a URL like redis:\/\/HOST:PORT/],
    [['--redis-cluster', 'redis://a:1', '--redis-cluster', 'b:2'], /invalid --redis-cluster "b:2"/],
    [['--redis', 'redis://a:1', '--redis-cluster', 'redis://b:2'], /--redis and --redis-cluster cannot be used together/]
  ]
  for (const [argv, message] of cases) t.throws(() => parseCli(argv), { name: 'UsageError', message }, argv.join(' '))
})
