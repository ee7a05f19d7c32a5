// The command-line flags of scale-out: --redis, --workers and the queue caps every instance shares.
import t from 'tap'
import { parseCli } from '../../lib/cli-options.js'
import { pluginOptions } from '../../lib/server.js'

function config (argv: string[]): ReturnType<typeof parseCli> & { help: false } {
  const request = parseCli(argv)
  if (request.help) throw new Error('help')
  return request
}

t.test('--redis, --workers and the queue caps are read and handed to the plugin', async t => {
  const { config: c } = config(['--redis', 'redis://10.0.0.5:6380/2', '--workers', '4',
    '--queue-max-messages', '10', '--queue-max-bytes', '2048', '--queue-max-age', '2.5'])
  t.match(c, { redis: 'redis://10.0.0.5:6380/2', workers: 4, queueMaxMessages: 10, queueMaxBytes: 2048, queueMaxAge: 2.5 })
  t.match(pluginOptions(c), { queueMaxMessages: 10, queueMaxBytes: 2048, queueMaxAge: 2.5 })
  t.match(config(['--redis', 'rediss://user:secret@redis.example:6379']).config, { redis: 'rediss://user:secret@redis.example:6379' })
})

t.test('wrong values are one-line usage errors', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['--redis', 'localhost:6379'], /invalid --redis "localhost:6379": expected a URL like redis:\/\/HOST:PORT/],
    [['-l', 'tls:127.0.0.1:8443', '--certfile', 'c', '--keyfile', 'k', '--redis', 'redis://h', '--workers', '2'], /--workers cannot serve a tls: listener/],
    [['--redis', 'redis://h', '--workers', '0'], /invalid --workers "0"/],
    [['--queue-max-messages', '0'], /invalid --queue-max-messages "0"/],
    [['--queue-max-bytes', '1.5'], /invalid --queue-max-bytes "1.5"/],
    [['--queue-max-age', '-1'], /invalid --queue-max-age "-1": expected a number of seconds, 0 or more/],
    [['--queue-max-age', 'soon'], /invalid --queue-max-age "soon"/]
  ]
  for (const [argv, message] of cases) t.throws(() => parseCli(argv), { name: 'UsageError', message }, argv.join(' '))
})
