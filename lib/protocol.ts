import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

/** A named reason for refusing a frame: `code` labels logs and metrics, `message` is what the client reads. */
export interface FailureReason {
  readonly code: string
  readonly message: string
}

/** Every reason a frame can be answered `failed`, in one vocabulary for replies, logs and metrics. */
export const Failure = {
  BinaryFrame: { code: 'binary_frame', message: 'binary frames are not accepted' },
  NotJson: { code: 'not_json', message: 'frame is not valid JSON' },
  NotObject: { code: 'not_object', message: 'frame is not a JSON object' },
  MissingMethod: { code: 'missing_method', message: 'frame has no method' },
  UnknownMethod: { code: 'unknown_method', message: 'unknown method' },
  MissingData: { code: 'missing_data', message: 'NOTIFY frame has no data' },
  MissingResource: { code: 'missing_resource', message: 'GET frame has no resource' },
  UnknownResource: { code: 'unknown_resource', message: 'unknown resource' },
  UnexpectedProperty: { code: 'unexpected_property', message: 'frame has an unexpected property' },
  UnechoableMsgId: { code: 'unechoable_msg_id', message: 'msg_id is too deeply nested to echo' },
  QueueFull: { code: 'queue_full', message: 'queue full' },
  QueueExpired: { code: 'queue_expired', message: 'queued messages expired before the other peer joined' },
  RateLimited: { code: 'rate_limited', message: 'rate limited' },
  SessionsDisabled: { code: 'sessions_disabled', message: 'sessions are disabled on this server' },
  Internal: { code: 'internal', message: 'internal error' }
} as const satisfies Record<string, FailureReason>

/** The resources a GET frame may ask for. */
export const Resource = {
  PeerConnection: '/peerconnection',
  Session: '/session'
} as const
export type ResourceName = typeof Resource[keyof typeof Resource]

export const NotifyFrame = Type.Object({
  method: Type.Literal('NOTIFY'),
  data: Type.Unknown()
}, { additionalProperties: false })
export type NotifyFrame = Static<typeof NotifyFrame>

export const GetFrame = Type.Object({
  method: Type.Literal('GET'),
  resource: Type.Union([Type.Literal(Resource.PeerConnection), Type.Literal(Resource.Session)]),
  msg_id: Type.Optional(Type.Unknown())
}, { additionalProperties: false })
export type GetFrame = Static<typeof GetFrame>

// Compiled once at module load: every frame on every connection goes through these.
const isNotify = TypeCompiler.Compile(NotifyFrame)
const isGet = TypeCompiler.Compile(GetFrame)

/** A frame that was refused, with the msg_id to echo when it had one. */
export class Rejection {
  constructor (
    readonly failure: FailureReason,
    readonly msgId?: unknown,
    readonly hasMsgId = false
  ) {}
}

/**
 * A refusal of a frame that parsed (or failed to), carrying its msg_id when it had one.
 * @param frame what parseFrame made of the frame
 * @param failure why it is refused
 */
export function refusal (frame: NotifyFrame | GetFrame | Rejection, failure: FailureReason): Rejection {
  if (frame instanceof Rejection) return new Rejection(failure, frame.msgId, frame.hasMsgId)
  return 'msg_id' in frame ? new Rejection(failure, frame.msg_id, true) : new Rejection(failure)
}

/**
 * Parses and validates one text frame.
 * @param text the frame as received
 * @returns the frame when it is a valid NOTIFY or GET, otherwise a Rejection naming what was wrong
 */
export function parseFrame (text: string): NotifyFrame | GetFrame | Rejection {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return new Rejection(Failure.NotJson)
  }
  if (isNotify.Check(value) || isGet.Check(value)) return value
  return explain(value)
}

// The slow path: only frames that failed the compiled schemas get here, so it may take its time
// to name the first thing wrong.
function explain (value: unknown): Rejection {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return new Rejection(Failure.NotObject)
  }
  const frame = value as Record<string, unknown>
  const hasMsgId = Object.prototype.hasOwnProperty.call(frame, 'msg_id')
  const reject = (failure: FailureReason): Rejection => new Rejection(failure, frame.msg_id, hasMsgId)
  const has = (key: string): boolean => Object.prototype.hasOwnProperty.call(frame, key)
  const method = frame.method
  if (!has('method')) return reject(Failure.MissingMethod)
  if (method === 'NOTIFY') {
    if (!has('data')) return reject(Failure.MissingData)
    return reject(Failure.UnexpectedProperty)
  }
  if (method === 'GET') {
    if (!has('resource')) return reject(Failure.MissingResource)
    if (frame.resource !== Resource.PeerConnection && frame.resource !== Resource.Session) {
      return reject(Failure.UnknownResource)
    }
    return reject(Failure.UnexpectedProperty)
  }
  return reject(Failure.UnknownMethod)
}

/** A `success` answer to a GET, echoing msg_id when the request had one. */
export function successReply (request: GetFrame, result: unknown): string {
  const reply = 'msg_id' in request
    ? { msg_id: request.msg_id, code: 'success', result }
    : { code: 'success', result }
  return serializeEchoing(reply, () => failedReply(new Rejection(Failure.UnechoableMsgId)))
}

/** A `failed` answer, echoing msg_id when the refused frame had one. */
export function failedReply (rejection: Rejection): string {
  const reply = rejection.hasMsgId
    ? { code: 'failed', reason: rejection.failure.message, msg_id: rejection.msgId }
    : { code: 'failed', reason: rejection.failure.message }
  return serializeEchoing(reply, () => failedReply(new Rejection(Failure.UnechoableMsgId)))
}

/** A PRESENCE frame telling a session peer what its partner is doing. */
export function presenceFrame (state: 'joined' | 'reconnecting' | 'back'): string {
  return `{"method":"PRESENCE","data":{"state":"${state}"}}`
}

// JSON.stringify recurses, so a msg_id nested tens of thousands deep (it parsed fine: V8's parser
// does not recurse) throws RangeError. Such a msg_id cannot be echoed; the client is told so.
function serializeEchoing (reply: object, fallback: () => string): string {
  try {
    return JSON.stringify(reply)
  } catch {
    return fallback()
  }
}
