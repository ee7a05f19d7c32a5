// Option checking and its words, without a server.
import t from 'tap'
import { optionProblem } from '../../lib/options-schema.js'
import { defaults, resolveOptions } from '../../lib/options.js'

t.test('problems are placed by path and said in words', async t => {
  t.same(optionProblem({ iceServers: [{ urls: 'stun:x' }, { url: 'stun:y' }] }),
    { path: 'iceServers[1]', message: '`urls` is required (`url` was given: did you mean `urls`?)' })
  t.same(optionProblem({ iceServers: 'stun:x' }), { path: 'iceServers', message: 'expected array' })
  t.same(optionProblem({ turn: { urls: 'turn:x', secret: '' } }), { path: 'turn.secret', message: 'expected string length greater or equal to 1' })
  t.same(optionProblem({ heartbeat: 1 }), { path: 'heartbeat', message: 'unknown option (did you mean `heartbeatInterval`?)' })
  t.same(optionProblem({ maxpeers: 1 }), { path: 'maxpeers', message: 'unknown option (did you mean `maxPeers`?)' })
  t.equal(optionProblem({ maxPeers: 5, iceServers: async () => [] }), undefined)
})

t.test('defaults fill in; the hard frame limit follows maxPayload up', async t => {
  t.equal(resolveOptions({}).maxPayload, defaults.maxPayload)
  t.equal(resolveOptions({}).hardMaxPayload, 1024 * 1024)
  t.equal(resolveOptions({ maxPayload: 2 * 1024 * 1024 }).hardMaxPayload, 2 * 1024 * 1024)
  t.throws(() => resolveOptions({ maxPayload: 10, hardMaxPayload: 5 }), /hardMaxPayload/)
  t.equal(resolveOptions({ prefix: '/x', logLevel: 'warn' }).maxPeers, defaults.maxPeers, 'Fastify\'s own register options are not the plugin\'s')
})
