// docs/protocol.md#frames and #relaying-and-queueing: reading frames and writing answers, without sockets.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { Failure, failedReply, readFrame, relayedFrame, successReply, type InboundFrame } from '../../lib/protocol.js'

const notify = (text: string): InboundFrame & { kind: 'notify' } => {
  const frame = readFrame(text)
  if (frame.kind !== 'notify') throw new Error(`not a NOTIFY: ${text}`)
  return frame
}

t.test('valid frames: a NOTIFY with any data and extra members, a GET of a known resource', async t => {
  t.match(readFrame('{"method":"NOTIFY","data":null}'), { kind: 'notify' })
  t.match(readFrame('{"method":"NOTIFY","data":1,"to":"x","msg_id":2}'), { kind: 'notify' })
  t.same(readFrame('{"method":"GET","resource":"/session"}'), { kind: 'get', resource: '/session', msgId: undefined })
  t.same(readFrame('{"method":"GET","resource":"/peerconnection","msg_id":7,"extra":1}'), { kind: 'get', resource: '/peerconnection', msgId: '7' })
})

t.test('each refusal names its reason and keeps the msg_id\'s source', async t => {
  const cases: Array<[string, string, string?]> = [
    ['nope', 'not_json'],
    ['[1]', 'not_object'],
    ['null', 'not_object'],
    ['{"msg_id":1}', 'missing_method', '1'],
    ['{"method":"notify","data":1}', 'unknown_method'],
    ['{"method":{"a":1}}', 'unknown_method'],
    ['{"method":"NOTIFY","msg_id":"m"}', 'missing_data', '"m"'],
    ['{"method":"GET"}', 'missing_resource'],
    ['{"method":"GET","resource":"/x","msg_id": [1, 2] }', 'unknown_resource', '[1, 2]']
  ]
  for (const [text, code, msgId] of cases) {
    t.same(readFrame(text), { kind: 'refused', failure: Object.values(Failure).find(f => f.code === code), msgId }, text)
  }
})

t.test('a NOTIFY is relayed as its own bytes unless a parser could read it otherwise', async t => {
  const same = ['{"method":"NOTIFY","data":{"sdp":"v=0\\r\\n"}}', '{ "data" : 1 , "method" : "NOTIFY", "to": "p" }']
  for (const text of same) {
    const bytes = Buffer.from(text)
    t.equal(relayedFrame(bytes, notify(text)), bytes, text)
  }
  const anew: Array<[string, string]> = [
    ['{"method":"PRESENCE","data":1,"method":"NOTIFY"}', '{"method":"NOTIFY","data":1}'],
    ['{"method":"NOTIFY","data":1,"data":2}', '{"method":"NOTIFY","data":2}'],
    ['{"\\u006dethod":"NOTIFY","data":"\\u00e9"}', '{"method":"NOTIFY","data":"é"}'],
    ['{"method":"NOTIFY","data":0,"code":"success","result":{},"reason":"x","msg_id":1}', '{"method":"NOTIFY","data":0,"msg_id":1}'],
    ['{"method":"NOTIFY","data":0,"__proto__":{"a":1},"code":1}', '{"method":"NOTIFY","data":0,"__proto__":{"a":1}}']
  ]
  for (const [text, relayed] of anew) t.equal(relayedFrame(Buffer.from(text), notify(text)), relayed, text)
  // A server member makes it written anew, which a frame this deep cannot be.
  const deep = `{"method":"NOTIFY","code":1,"data":${'['.repeat(20000)}${']'.repeat(20000)}}`
  t.equal(relayedFrame(Buffer.from(deep), notify(deep)), Failure.Unrelayable, 'too deep to write anew')
})

t.test('in a group room the server\'s from goes first; only a top-level from of the sender\'s is dropped', async t => {
  const relayed = (text: string): string => String(relayedFrame(Buffer.from(text), notify(text), 'p1'))
  t.equal(relayed('{"method":"NOTIFY","data":{"from":"x"}}'), '{"from":"p1","method":"NOTIFY","data":{"from":"x"}}', 'a from inside data is data')
  t.equal(relayed('{"method":"NOTIFY","from":"x","data":1}'), '{"from":"p1","method":"NOTIFY","data":1}')
  t.equal(relayed('{"method":"NOTIFY","\\u0066rom":"x","data":1}'), '{"from":"p1","method":"NOTIFY","data":1}', 'spelt with an escape too')
  for (const text of ['{"method":"NOTIFY","data":{"from":"x"}}', '{"method":"NOTIFY","from":"x","data":1}']) {
    t.equal(JSON.parse(relayed(text)).from, 'p1', `every parser reads the server's from: ${text}`)
  }
})

t.test('answers echo msg_id as written', async t => {
  const get = readFrame('{"method":"GET","resource":"/peerconnection","msg_id":9007199254740993}')
  if (get.kind !== 'get') throw new Error('not a GET')
  t.equal(successReply(get, { configuration: { iceServers: [] } }),
    '{"msg_id":9007199254740993,"code":"success","result":{"configuration":{"iceServers":[]}}}')
  t.equal(failedReply(Failure.RateLimited), '{"code":"failed","reason":"rate limited"}')
  t.equal(failedReply(Failure.RateLimited, readFrame('{"method":"NOTIFY","data":1,"msg_id":1e400}')),
    '{"code":"failed","reason":"rate limited","msg_id":1e400}')
  t.equal(failedReply(Failure.NotJson, readFrame('{"msg_id":1')), '{"code":"failed","reason":"frame is not valid JSON"}')
})

t.test('docs/protocol.md#failure-reasons lists every reason the server gives, as the client reads it', async t => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
  for (const failure of Object.values(Failure)) {
    t.ok(doc.includes(`| \`${failure.message}\` | \`${failure.code}\` |`), failure.code)
  }
})
