/**
 * The TypeBox schema the plugin's options are checked against at registration, and the words
 * an error in them is explained with.
 */
import { Kind, Type, TypeRegistry, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type ValueError } from '@sinclair/typebox/compiler'
import { ValueErrorType } from '@sinclair/typebox/errors'
import type { ServableRegistry } from './metrics.js'
import type { RoomStore } from './stores/store.js'
import { maxRoomSize } from './wire.js'

const Url = Type.String({ minLength: 1 })
const Urls = Type.Union([Url, Type.Array(Url, { minItems: 1 })])

/** One entry of RTCConfiguration.iceServers. */
export const IceServerSchema = Type.Object({
  urls: Urls,
  username: Type.Optional(Type.String()),
  credential: Type.Optional(Type.String())
})

/** TURN REST API credentials (coturn's `use-auth-secret`). */
export const TurnOptionsSchema = Type.Object({
  urls: Urls,
  secret: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
  ttl: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })

const AnyFunction = Type.Function([], Type.Unknown())

// Stores and registries are class instances, their methods on the prototype, which TypeBox's
// object checks (own properties) would refuse: each gets a kind of its own.
function instanceWith<T> (kind: string, methods: readonly string[]): TSchema {
  TypeRegistry.Set(kind, (_schema, value) =>
    typeof value === 'object' && value !== null &&
    methods.every(method => typeof (value as Record<string, unknown>)[method] === 'function'))
  return Type.Unsafe<T>({ [Kind]: kind, methods })
}
/** The methods a RoomStore must have. */
export const storeMethods = ['start', 'close', 'reserve', 'release', 'attach', 'relay', 'expire', 'leave', 'openSession', 'suspend', 'claim',
  'kick', 'closeRoom', 'send', 'room', 'rooms'] as const
const StoreSchema = instanceWith<RoomStore>('RtcNotifyRoomStore', storeMethods)
const RegistrySchema = instanceWith<ServableRegistry>('RtcNotifyPromRegistry', ['metrics', 'registerMetric', 'getSingleMetric'])

const MetricsSchema = Type.Object({
  registry: Type.Optional(RegistrySchema),
  route: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
const Seconds = Type.Number({ minimum: 0 })
const Count = Type.Integer({ minimum: 1 })
const Rate = Type.Number({ minimum: 0 })

/** The plugin's options, checked at registration (their meanings: NotifyOptions in options.ts). */
export const NotifyOptionsSchema = Type.Object({
  iceServers: Type.Optional(Type.Union([Type.Array(IceServerSchema), AnyFunction])),
  turn: Type.Optional(TurnOptionsSchema),
  hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  origins: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  paths: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^/' }))),
  maxPayload: Type.Optional(Count),
  hardMaxPayload: Type.Optional(Count),
  queueMaxMessages: Type.Optional(Count),
  queueMaxBytes: Type.Optional(Count),
  queueMaxTotalBytes: Type.Optional(Count),
  queueMaxAge: Type.Optional(Seconds),
  heartbeatInterval: Type.Optional(Seconds),
  messageRate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  messageBurst: Type.Optional(Count),
  ipMessageRate: Type.Optional(Rate),
  ipByteRate: Type.Optional(Rate),
  maxBufferedBytes: Type.Optional(Count),
  maxRooms: Type.Optional(Count),
  maxPeers: Type.Optional(Count),
  resumeGrace: Type.Optional(Seconds),
  authorize: Type.Optional(AnyFunction),
  store: Type.Optional(StoreSchema),
  metrics: Type.Optional(Type.Union([Type.Boolean(), MetricsSchema])),
  health: Type.Optional(Type.Boolean()),
  serveClient: Type.Optional(Type.Boolean()),
  roomSize: Type.Optional(Type.Union([Type.Integer({ minimum: 2, maximum: maxRoomSize }), AnyFunction])),
  shareIdentity: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
export type CheckedOptions = Static<typeof NotifyOptionsSchema>

const checker = TypeCompiler.Compile(NotifyOptionsSchema)

/** What is wrong with a set of options: where (`iceServers[0].urls`) and what. */
export interface OptionProblem {
  path: string
  message: string
}

/**
 * Checks options against the schema.
 * @returns the first problem, explained, or undefined when they are good
 */
export function optionProblem (options: Record<string, unknown>): OptionProblem | undefined {
  const error = checker.Errors(options).First()
  return error === undefined ? undefined : explain(mostSpecific(error), options)
}

// A union's error says only "expected union value". The variant the user meant is the one
// whose error lies deepest (an array of ICE servers rather than a function, say), or, at the
// same depth, one whose error is about more than the value's type (an empty array of URLs
// rather than "not a string").
function mostSpecific (error: ValueError): ValueError {
  let best = error
  let bestScore = -1
  for (const variant of error.errors) {
    const first = variant.First()
    if (first === undefined) continue
    const score = first.path.length * 2 + (typeMismatches.has(first.type) ? 0 : 1)
    if (score > bestScore) {
      best = first
      bestScore = score
    }
  }
  return best === error ? error : mostSpecific(best)
}

const typeMismatches = new Set([
  ValueErrorType.Array, ValueErrorType.Boolean, ValueErrorType.Function, ValueErrorType.Integer,
  ValueErrorType.Kind, ValueErrorType.Number, ValueErrorType.Object, ValueErrorType.String, ValueErrorType.Union
])

function explain (error: ValueError, options: Record<string, unknown>): OptionProblem {
  const segments = error.path.split('/').slice(1)
  const path = pathText(segments)
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    // The path names the unknown property itself.
    const known = Object.keys((error.schema as TSchema & { properties: object }).properties)
    return { path, message: `unknown option${suggestion(segments[segments.length - 1] ?? '', known)}` }
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) {
    const name = segments[segments.length - 1] ?? ''
    const siblings = Object.keys(valueAt(options, segments.slice(0, -1)) as object ?? {})
    return { path: pathText(segments.slice(0, -1)), message: `\`${name}\` is required${suggestion(name, siblings, true)}` }
  }
  if (error.type === ValueErrorType.Kind) {
    const methods = (error.schema as { methods?: readonly string[] }).methods ?? []
    return { path, message: `expected an object with the methods ${methods.join(', ')}` }
  }
  return { path, message: error.message.toLowerCase() }
}

function valueAt (value: unknown, segments: string[]): unknown {
  for (const segment of segments) value = (value as Record<string, unknown> | undefined)?.[segment]
  return value
}

function pathText (segments: string[]): string {
  return segments.map((s, i) => /^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`).join('')
}

// " (did you mean `urls`?)" when a given name is a case or two edits away from a known one,
// or the start of one (`heartbeat` for `heartbeatInterval`).
function suggestion (name: string, candidates: string[], reverse = false): string {
  const near = candidates.find(c => c !== name && closeTo(c, name)) ??
    (name.length >= 4 ? candidates.find(c => c.toLowerCase().startsWith(name.toLowerCase())) : undefined)
  if (near === undefined) return ''
  return reverse ? ` (\`${near}\` was given: did you mean \`${name}\`?)` : ` (did you mean \`${near}\`?)`
}

function closeTo (a: string, b: string): boolean {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (x === y) return true
  if (Math.abs(x.length - y.length) > 2) return false
  // Levenshtein distance of at most 2, on short names.
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i)
  for (let i = 1; i <= x.length; i++) {
    const row = [i]
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[y.length]! <= 2
}
