import { STATUS_CODES } from 'node:http'

/**
 * An HTTP/1.1 response for a socket that no HTTP server answers (refused before one sees it, or
 * at an upgrade): the connection closes after it.
 * @param headers more headers, e.g. Retry-After
 */
export function closingResponse (status: number, body = '', headers: Record<string, string> = {}): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n`
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}
