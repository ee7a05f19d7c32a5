// The responses written on raw sockets (refusals before an HTTP server sees the request, and at upgrades).
import t from 'tap'
import { closingResponse } from '../../lib/raw-response.js'

t.test('a closing response: status line, Connection: close, extra headers, Content-Length of the body in bytes', async t => {
  t.equal(closingResponse(408), 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
  t.equal(closingResponse(503, '', { 'Retry-After': '1' }),
    'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n')
  t.equal(closingResponse(400, 'salle pleine ✓', { 'Content-Type': 'text/plain; charset=utf-8' }),
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\nsalle pleine ✓')
})
