// docs/protocol.md#the-handshake: the rules, without a server.
import t from 'tap'
import { handshakeChecker, roomIdProblem, roomOf, type HandshakeRequest } from '../../lib/handshake.js'

function request (overrides: Partial<HandshakeRequest>): HandshakeRequest {
  return { target: '/call/a', path: '/call/a', hostHeaders: 1, host: 'h', origin: undefined, roomId: 'a', query: {}, ...overrides }
}

t.test('the refusals come in the documented order', async t => {
  const check = handshakeChecker({ paths: ['/call/a'], hosts: ['h'], origins: ['o'] })
  t.match(check(request({ target: 'http://x/call/a', path: '/call/b' })), { statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_REQUEST' })
  t.match(check(request({ hostHeaders: 2, path: '/call/b' })), { statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_REQUEST' })
  t.match(check(request({ path: '/call/b', host: 'x', origin: 'x', roomId: '' })), { statusCode: 404 })
  t.match(check(request({ host: 'x', origin: 'x', roomId: '' })), { statusCode: 403, code: 'FST_RTC_NOTIFY_HOST_NOT_ALLOWED' })
  t.match(check(request({ host: undefined })), { statusCode: 403, code: 'FST_RTC_NOTIFY_HOST_NOT_ALLOWED' }, 'no Host at all')
  t.match(check(request({ origin: 'x', roomId: '' })), { statusCode: 403, code: 'FST_RTC_NOTIFY_ORIGIN_NOT_ALLOWED' })
  t.match(check(request({ origin: 'o', query: { resume: ['x', 'y'] }, roomId: '' })), { statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_REQUEST' })
  t.match(check(request({ origin: 'o', roomId: '' })), { statusCode: 400, code: 'FST_RTC_NOTIFY_BAD_ROOM_ID' })
  t.equal(check(request({ origin: 'O' })), undefined, 'allow-lists ignore case')
  t.equal(check(request({ origin: undefined })), undefined, 'no Origin passes')
})

t.test('room ids: printable text without "/", up to 256 characters; one room per NFC form', async t => {
  for (const id of ['x', 'My Room', 'Café', 'a@b', '📞', 'é'.repeat(256)]) t.equal(roomIdProblem(id), undefined, id)
  for (const id of ['', 'a/b', 'a\u0000', 'a\nb', '\u007f', '\u0085', 'x'.repeat(257), '📞'.repeat(257), '\ud800']) {
    t.match(roomIdProblem(id), { code: 'FST_RTC_NOTIFY_BAD_ROOM_ID' }, JSON.stringify(id))
  }
  t.equal(roomOf('Cafe\u0301'), roomOf('Caf\u00e9'))
})
