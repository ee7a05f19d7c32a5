// Options are checked at registration, with an error that names the option.
import Fastify from 'fastify'
import t from 'tap'
import { notify } from '../lib/index.js'
import { defaults, resolveOptions } from '../lib/options.js'

async function register (options: Record<string, unknown>): Promise<unknown> {
  const app = Fastify()
  try {
    await app.register(notify, options)
    await app.ready()
    return undefined
  } catch (err) {
    return err
  } finally {
    await app.close()
  }
}

t.test('wrong options are refused at registration, naming the option', async t => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxPayload: 0 }, /"maxPayload"/],
    [{ maxPayload: '64k' }, /"maxPayload"/],
    [{ iceServers: 'stun:x' }, /"iceServers"/],
    [{ iceServers: [{ url: 'stun:x' }] }, /"iceServers/],
    [{ iceServers: [{ urls: [] }] }, /"iceServers/],
    [{ hosts: 'example.com' }, /"hosts"/],
    [{ origins: [1] }, /"origins/],
    [{ paths: ['call/x'] }, /"paths/],
    [{ heartbeatInterval: -1 }, /"heartbeatInterval"/],
    [{ queueMaxMessages: 1.5 }, /"queueMaxMessages"/],
    [{ maxRooms: 0 }, /"maxRooms"/],
    [{ authorize: true }, /"authorize"/],
    [{ turn: { urls: 'turn:x' } }, /"turn/],
    [{ store: {} }, /"store/],
    [{ maxPayLoad: 10 }, /"maxPayLoad": unknown option/]
  ]
  for (const [options, pattern] of cases) {
    const err = await register(options) as Error & { code?: string }
    t.match(err?.message, pattern, JSON.stringify(options))
    t.equal(err?.code, 'FST_RTC_NOTIFY_INVALID_OPTION')
  }
})

t.test('errors name the nested key and say what is wrong in words', async t => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ iceServers: [{ urls: 'stun:a' }, { url: 'stun:x' }] }, 'invalid option "iceServers[1]": `urls` is required (`url` was given: did you mean `urls`?)'],
    [{ iceServers: [{ urls: [] }] }, 'invalid option "iceServers[0].urls": expected array length to be greater or equal to 1'],
    [{ turn: { urls: 'turn:x' } }, 'invalid option "turn": `secret` is required'],
    [{ turn: { urls: 'turn:x', secret: 's', tll: 5 } }, 'invalid option "turn.tll": unknown option (did you mean `ttl`?)'],
    [{ maxPayLoad: 10 }, 'invalid option "maxPayLoad": unknown option (did you mean `maxPayload`?)'],
    [{ metrics: { registry: {} } }, 'invalid option "metrics.registry": expected an object with the methods metrics, registerMetric, getSingleMetric'],
    [{ store: { start () {} } }, 'invalid option "store": expected an object with the methods start, close, reserve, release, attach, relay, expire, leave, openSession, suspend, claim, kick, closeRoom, send, room, rooms'],
    [{ maxPayload: 2048, hardMaxPayload: 1024 }, 'invalid option "hardMaxPayload": must be at least maxPayload']
  ]
  for (const [options, message] of cases) {
    t.equal((await register(options) as Error)?.message, `fastify-rtc-notify: ${message}`, JSON.stringify(options))
  }
})

t.test('good options pass, defaults fill in, Fastify\'s own register options are ignored', async t => {
  t.equal(await register({ prefix: '/x', logLevel: 'warn', iceServers: [], maxPayload: 10, heartbeatInterval: 0 }), undefined)
  t.equal(await register({ iceServers: async () => [] }), undefined)
  t.same(resolveOptions({}), { ...defaults, hardMaxPayload: 1024 * 1024 })
  t.equal(resolveOptions({ maxRooms: 5, hosts: undefined }).maxRooms, 5)
})
