import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  BadRequestError, BadRoomIdError, HostNotAllowedError, OriginNotAllowedError, PathNotAllowedError
} from './errors.js'

/** The allow-lists a handshake is checked against; an absent list allows everything. */
export interface HandshakeRules {
  paths?: string[]
  hosts?: string[]
  origins?: string[]
}

/** What the rules look at in a handshake request. */
export interface HandshakeRequest {
  /** The request target as sent (origin-form starts with `/`). */
  target: string
  /** The request path, without the query string. */
  path: string
  /** How many Host headers the request has. */
  hostHeaders: number
  host: string | undefined
  origin: string | undefined
  /** The room id, percent-decoded. */
  roomId: string
  query: unknown
}

/** The longest room id accepted, in characters (code points). */
export const maxRoomIdLength = 256
// Control characters (C0, DEL, C1), lone surrogates and the path separator.
const forbiddenInRoomId = /[\p{Cc}\p{Cs}/]/u

/** The query string of a handshake: `?resume=<token>` at most once. */
export const CallQuery = Type.Object({
  resume: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
})
const isCallQuery = TypeCompiler.Compile(CallQuery)

/**
 * Builds the check a handshake goes through before any seat is taken, in the order of
 * docs/protocol.md: a malformed request (400), path (404), Host (403), Origin (403), room id
 * and query (400).
 * @returns a function answering the refusal to send, or undefined when the handshake may go on
 */
export function handshakeChecker (rules: HandshakeRules): (request: HandshakeRequest) => Error | undefined {
  const paths = rules.paths === undefined ? undefined : new Set(rules.paths)
  const hosts = rules.hosts === undefined ? undefined : new Set(rules.hosts.map(h => h.toLowerCase()))
  const origins = rules.origins === undefined ? undefined : new Set(rules.origins.map(o => o.toLowerCase()))
  return function checkHandshake (request) {
    // Two Host headers, or a target naming another authority, leave it unclear which host the
    // client meant: the allow-list could be checked against one and the request meant for another.
    if (request.hostHeaders > 1) return new BadRequestError('more than one Host header')
    if (!request.target.startsWith('/')) return new BadRequestError('the request target must be a path')
    if (paths !== undefined && !paths.has(request.path)) return new PathNotAllowedError()
    if (hosts !== undefined && (request.host === undefined || !hosts.has(request.host.toLowerCase()))) {
      return new HostNotAllowedError()
    }
    if (origins !== undefined && request.origin !== undefined && !origins.has(request.origin.toLowerCase())) {
      return new OriginNotAllowedError()
    }
    if (!isCallQuery.Check(request.query)) return new BadRequestError('resume must be given once, as a token')
    return roomIdProblem(request.roomId)
  }
}

/**
 * Checks a room id, as decoded from the path: 1 to 256 characters, any printable Unicode but
 * no `/` and no control characters.
 * @returns the refusal, or undefined when the id is good
 */
export function roomIdProblem (roomId: string): Error | undefined {
  if (roomId.length === 0) return new BadRoomIdError('empty')
  if (roomId.length > maxRoomIdLength && [...roomId].length > maxRoomIdLength) {
    return new BadRoomIdError(`longer than ${maxRoomIdLength} characters`)
  }
  if (forbiddenInRoomId.test(roomId)) return new BadRoomIdError('no "/" and no control characters')
  return undefined
}

/**
 * The room an id names: ids that differ only in how Unicode composed them ("é" as one code
 * point or as "e" and an accent) name the same room.
 */
export function roomOf (roomId: string): string {
  return roomId.normalize('NFC')
}
