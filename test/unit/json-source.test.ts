import t from 'tap'
import { memberSource } from '../../lib/json-source.js'

t.test('the source text of a member\'s value, as JSON.parse reads the object', async t => {
  t.equal(memberSource('{"a":1,"msg_id":  9007199254740993 }', 'msg_id'), '9007199254740993')
  t.equal(memberSource('{"msg_id":"x\\"}y","b":2}', 'msg_id'), '"x\\"}y"')
  t.equal(memberSource('{"msg_id":{"msg_id":[1,"]"]},"z":0}', 'msg_id'), '{"msg_id":[1,"]"]}')
  t.equal(memberSource('{"msg_id":1,"msg_id":2}', 'msg_id'), '2', 'the last of two, as JSON.parse')
  t.equal(memberSource('{"msg\\u005fid":true}', 'msg_id'), 'true', 'a name with escapes')
  t.equal(memberSource('{"a":{"msg_id":1}}', 'msg_id'), undefined, 'only members of the object itself')
  const deep = '['.repeat(50000) + ']'.repeat(50000)
  t.equal(memberSource(`{"msg_id":${deep}}`, 'msg_id'), deep, 'deep values without recursion')
})
