/**
 * The frames of the wire protocol as the server reads and writes them (docs/protocol.md):
 * parsing and validating what a client sends, and the text of every answer.
 */
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { BadAppDataError } from './errors.js'
import { memberSource } from './json-source.js'
import type { Frame, SeatInfo } from './stores/store.js'
import { Method, Resource, type PresenceState, type ResourceName } from './wire.js'

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
  TooLarge: { code: 'too_large', message: 'frame is larger than the server relays' },
  Unrelayable: { code: 'unrelayable', message: 'frame is too deeply nested to relay' },
  UnknownPeer: { code: 'unknown_peer', message: 'no such peer in the room' },
  QueueFull: { code: 'queue_full', message: 'queue full' },
  QueueExpired: { code: 'queue_expired', message: 'queued messages expired before the other peer joined' },
  RateLimited: { code: 'rate_limited', message: 'rate limited' },
  SessionsDisabled: { code: 'sessions_disabled', message: 'sessions are disabled on this server' },
  StoreUnavailable: { code: 'store_unavailable', message: 'the server cannot reach its room store' },
  Internal: { code: 'internal', message: 'internal error' }
} as const satisfies Record<string, FailureReason>

// Extra members are allowed, as the original server allowed them: a NOTIFY's are relayed with
// it, a GET's are ignored.
export const NotifyFrame = Type.Object({
  method: Type.Literal(Method.Notify),
  data: Type.Unknown()
})
export type NotifyFrame = Static<typeof NotifyFrame>

export const GetFrame = Type.Object({
  method: Type.Literal(Method.Get),
  resource: Type.Union([Type.Literal(Resource.PeerConnection), Type.Literal(Resource.Session)]),
  msg_id: Type.Optional(Type.Unknown())
})
export type GetFrame = Static<typeof GetFrame>

// Compiled once at module load: every frame on every connection goes through these.
const isNotify = TypeCompiler.Compile(NotifyFrame)
const isGet = TypeCompiler.Compile(GetFrame)

/**
 * A frame as the server reads it. `msgId` is the source text of the frame's msg_id, echoed
 * exactly as it was written (undefined when it had none).
 */
export type InboundFrame =
  | { readonly kind: 'notify', readonly frame: NotifyFrame, readonly text: string }
  | { readonly kind: 'get', readonly resource: ResourceName, readonly msgId: string | undefined }
  | { readonly kind: 'refused', readonly failure: FailureReason, readonly msgId: string | undefined }

const notJson: InboundFrame = { kind: 'refused', failure: Failure.NotJson, msgId: undefined }
const notObject: InboundFrame = { kind: 'refused', failure: Failure.NotObject, msgId: undefined }

/**
 * Parses and validates one text frame.
 * @param text the frame as received
 */
export function readFrame (text: string): InboundFrame {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return notJson
  }
  if (isNotify.Check(value)) return { kind: 'notify', frame: value, text }
  if (isGet.Check(value)) return { kind: 'get', resource: value.resource, msgId: msgIdSource(text, value) }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return notObject
  return { kind: 'refused', failure: explain(value as Record<string, unknown>), msgId: msgIdSource(text, value) }
}

// The slow path: only frames that failed the compiled schemas get here.
function explain (frame: Record<string, unknown>): FailureReason {
  if (!own(frame, 'method')) return Failure.MissingMethod
  if (frame.method === Method.Notify) return Failure.MissingData
  if (frame.method !== Method.Get) return Failure.UnknownMethod
  return own(frame, 'resource') ? Failure.UnknownResource : Failure.MissingResource
}

function msgIdSource (text: string, frame: object): string | undefined {
  return own(frame, 'msg_id') ? memberSource(text, 'msg_id') : undefined
}

function own (o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key)
}

// Members only the server's own frames carry: a NOTIFY is never relayed with them, so no peer
// can make its frame read as an answer from the server to a client that looks at them first;
// in a group room, nor with a `from` of its own making.
const answerMembers = new Set(['code', 'result', 'reason'])
const groupMembers = new Set([...answerMembers, 'from'])

/**
 * What to send on for a valid NOTIFY: its own bytes, unless a parser could read them otherwise
 * than this server did (a member written twice, as `{"method":"PRESENCE",...,"method":"NOTIFY"}`
 * is, or spelt with escapes) or they carry a member of the server's own frames; then the frame
 * is written anew. Either way it is made once, whatever the number of recipients. In a group
 * room it says who sent it: `"from"` goes first, the sender's own `from` (if any) is dropped.
 * @param bytes the frame as received
 * @param inbound what readFrame made of it
 * @param from the sender's peer id, in a group room
 * @returns the frame to relay, or the reason it cannot be
 */
export function relayedFrame (bytes: Buffer, inbound: InboundFrame & { kind: 'notify' }, from?: string): Frame | FailureReason {
  const frame = inbound.frame
  const serverOwn = from === undefined ? answerMembers : groupMembers
  let foreign = false
  for (const key in frame) if (serverOwn.has(key)) foreign = true
  // The text, not the bytes, is searched: a string's indexOf needs no needle made per call.
  const text = inbound.text
  // A `from` of the sender's own, top-level, is foreign; one inside `data` is not read as the
  // frame's: the server's goes first, before the sender's members.
  if (!foreign && unambiguous(text)) {
    return from === undefined ? bytes : withFrom(bytes, from)
  }
  // Without a prototype, a member named __proto__ is a member like any other.
  const copy: Record<string, unknown> = Object.create(null)
  if (from !== undefined) copy.from = from
  for (const key in frame) if (!serverOwn.has(key)) copy[key] = frame[key as keyof NotifyFrame]
  try {
    return JSON.stringify(copy)
  } catch {
    // JSON.stringify recurses: a frame nested tens of thousands deep parsed, but cannot be written.
    return Failure.Unrelayable
  }
}

// `{"from":"<id>",` then the frame after its opening brace: one copy of the bytes.
function withFrom (bytes: Buffer, from: string): Buffer {
  const open = bytes.indexOf(0x7b)
  return Buffer.concat([Buffer.from(`{"from":${JSON.stringify(from)},`), bytes.subarray(open + 1)])
}

/** Whom a NOTIFY in a group room is for: a peer id, everyone (undefined), or a refusal. */
export function recipientOf (frame: NotifyFrame): string | undefined | FailureReason {
  const to = (frame as { to?: unknown }).to
  if (to === undefined) return undefined
  return typeof to === 'string' ? to : Failure.UnknownPeer
}

// Every parser reads the same members from the text when no member name it depends on appears
// twice and none is spelt with a \u escape. A `"method"` inside `data` makes this answer no:
// the frame is then written anew, which is correct, only slower.
function unambiguous (text: string): boolean {
  const method = text.indexOf('"method"')
  if (method !== -1 && text.indexOf('"method"', method + 8) !== -1) return false
  const data = text.indexOf('"data"')
  if (data !== -1 && text.indexOf('"data"', data + 6) !== -1) return false
  return text.indexOf('\\u') === -1
}

/** A valid GET, as readFrame reads it. */
export type GetRequest = InboundFrame & { kind: 'get' }

/** A `success` answer to a GET, echoing its msg_id when it had one. */
export function successReply (request: GetRequest, result: unknown): string {
  const body = `"code":"success","result":${JSON.stringify(result)}}`
  return request.msgId === undefined ? `{${body}` : `{"msg_id":${request.msgId},${body}`
}

/**
 * A `failed` answer, echoing the msg_id of the frame it answers when it had one.
 * @param failure why
 * @param about the frame refused, when the answer is about one
 */
export function failedReply (failure: FailureReason, about?: InboundFrame): string {
  const head = `{"code":"failed","reason":${JSON.stringify(failure.message)}`
  const msgId = about === undefined
    ? undefined
    : about.kind === 'notify' ? msgIdSource(about.text, about.frame) : about.msgId
  return msgId === undefined ? `${head}}` : `${head},"msg_id":${msgId}}`
}

/**
 * A PRESENCE frame telling a peer what another peer of its room is doing.
 * @param withIdentity whether the peer's identity goes with it (the `shareIdentity` option)
 */
export function presenceFrame (state: PresenceState, peer: SeatInfo, withIdentity: boolean): string {
  return `{"method":"${Method.Presence}","data":{"state":"${state}",${peerMembers(peer, withIdentity)}}}`
}

/** The ROOM frame a peer of a group room gets when it joins: who it is, and who is there. */
export function roomFrame (peerId: string, size: number, others: SeatInfo[], withIdentity: boolean): string {
  const peers = others.map(other => `{${peerMembers(other, withIdentity)}}`).join(',')
  return `{"method":"${Method.Room}","data":{"peer":${JSON.stringify(peerId)},"size":${size},"peers":[${peers}]}}`
}

/** An APP frame: a message from the app on the server. @throws when `data` is not JSON-serializable */
export function appFrame (data: unknown): string {
  // JSON.stringify answers undefined, not an error, for a function or a symbol.
  const text = JSON.stringify(data === undefined ? null : data) as string | undefined
  if (text === undefined) throw new BadAppDataError(typeof data)
  return `{"method":"${Method.App}","data":${text}}`
}

// The identity is JSON text already (checked when authorize returned it).
function peerMembers (peer: SeatInfo, withIdentity: boolean): string {
  const id = `"peer":${JSON.stringify(peer.peerId)}`
  return withIdentity && peer.identity !== undefined ? `${id},"identity":${peer.identity}` : id
}
