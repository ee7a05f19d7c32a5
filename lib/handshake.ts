import {
  BadRoomIdError, HostNotAllowedError, OriginNotAllowedError, PathNotAllowedError
} from './errors.js'

/** The allow-lists a handshake is checked against; an absent list allows everything. */
export interface HandshakeRules {
  paths?: string[]
  hosts?: string[]
  origins?: string[]
}

/** What the rules look at in a handshake request. */
export interface HandshakeRequest {
  /** The request path, without the query string. */
  path: string
  host: string | undefined
  origin: string | undefined
  roomId: string
}

/** The longest room id accepted. */
export const maxRoomIdLength = 256
// RFC 3986's unreserved characters: an id made of them needs no escaping anywhere in a URL.
const urlSafe = /^[A-Za-z0-9\-._~]+$/

/**
 * Builds the check a handshake goes through before any seat is taken, in the order of
 * SPEC §1: path (404), Host (403), Origin (403), room id (400).
 * @returns a function answering the refusal to send, or undefined when the handshake may go on
 */
export function handshakeChecker (rules: HandshakeRules): (request: HandshakeRequest) => Error | undefined {
  const paths = rules.paths === undefined ? undefined : new Set(rules.paths)
  const hosts = rules.hosts === undefined ? undefined : new Set(rules.hosts.map(h => h.toLowerCase()))
  const origins = rules.origins === undefined ? undefined : new Set(rules.origins.map(o => o.toLowerCase()))
  return function checkHandshake (request) {
    if (paths !== undefined && !paths.has(request.path)) return new PathNotAllowedError()
    if (hosts !== undefined && (request.host === undefined || !hosts.has(request.host.toLowerCase()))) {
      return new HostNotAllowedError()
    }
    if (origins !== undefined && request.origin !== undefined && !origins.has(request.origin.toLowerCase())) {
      return new OriginNotAllowedError()
    }
    return roomIdProblem(request.roomId)
  }
}

/**
 * Checks a room id: 1 to 256 URL-safe characters.
 * @returns the refusal, or undefined when the id is good
 */
export function roomIdProblem (roomId: string): Error | undefined {
  if (roomId.length === 0) return new BadRoomIdError('empty')
  if (roomId.length > maxRoomIdLength) return new BadRoomIdError(`longer than ${maxRoomIdLength} characters`)
  if (!urlSafe.test(roomId)) return new BadRoomIdError('only letters, digits and - . _ ~ are allowed')
  return undefined
}
