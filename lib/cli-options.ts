import { isIP } from 'node:net'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { maxRoomSize } from './wire.js'

/** The standalone server's configuration, as the command line gives it. */
export interface CliConfig {
  transport: 'tcp' | 'tls'
  host: string
  port: number
  certfile?: string
  keyfile?: string
  paths?: string[]
  hosts?: string[]
  origins?: string[]
  logLevel: 'debug' | 'info' | 'fatal'
  heartbeat?: number
  resumeGrace?: number
  roomSize?: number
  maxRooms?: number
  maxPeers?: number
  maxPayload?: number
  maxBufferedBytes?: number
  ipMessageRate?: number
  ipByteRate?: number
  /** TCP connections open at once in this process; 0: no cap; undefined: the default */
  maxConnections?: number
  /** TCP connections open at once from one remote address in this process; 0: no cap */
  maxConnectionsPerIp: number
  queueMaxMessages?: number
  queueMaxBytes?: number
  queueMaxAge?: number
  demo: boolean
  metrics: boolean
  iceServers?: string[]
  turnUrls?: string[]
  turnSecret?: string
  turnTtl?: number
  redis?: string
  /** URLs of some nodes of a Redis Cluster */
  redisCluster?: string[]
  workers?: number
  /**
   * The proxies whose X-Forwarded-For, -Host and -Proto headers are believed (Fastify's
   * `trustProxy`): `true` for any, or their addresses and CIDR ranges; undefined: none
   */
  trustProxy?: true | string[]
}

/** Connections from one address, unless --max-connections-per-ip says otherwise. */
export const defaultMaxConnectionsPerIp = 256
/** Connections in one process, unless --max-connections says otherwise (fewer if the open-files limit is lower). */
export const defaultMaxConnections = 10000

/** A command line that cannot be run; the message is one line for the user. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** The outcome of reading a command line: a configuration, or a request for help. */
export type CliRequest = { help: true } | { help: false, config: CliConfig }

export const usage = `Usage: rtc-notify [options]

WebRTC signaling over WebSocket: peers join rooms at /call/<id>.

Options:
  -l, --listen TYPE:HOST:PORT  where to listen, tcp: or tls: (default tcp:127.0.0.1:8080)
      --certfile FILE          PEM certificate, required with tls:
      --keyfile FILE           PEM private key, required with tls:
      --path PATH              allow only this request path (404 otherwise); repeatable
      --host HOST[:PORT]       allow only this Host header (403 otherwise); repeatable
      --origin URL             allow only this Origin header (403 otherwise); repeatable
      --heartbeat SECONDS      ping interval; a peer that misses a ping is dropped (default 30, 0: off)
      --resume-grace SECONDS   how long a dropped session peer may come back (default 30, 0: off)
      --room-size N            peers in a room: 2 (a call ends when either leaves), up to 12 for group calls (default 2)
      --max-rooms N            refuse new rooms beyond N in this process (HTTP 503; default 10000)
      --max-peers N            refuse new peers beyond N in this process (HTTP 503; default 10000)
      --max-payload BYTES      largest frame the server relays; larger ones are answered failed (default 65536)
      --max-buffered-bytes BYTES
                               bytes that may wait to be sent to one peer; a peer that reads slower
                               is closed with 4002 (default 1048576)
      --ip-message-rate N      frames per second from one client address, all its connections (default 1000, 0: no limit)
      --ip-byte-rate BYTES     bytes per second from one client address (default 8388608, 0: no limit)
      --max-connections N      open connections in this process; beyond it new ones are closed at
                               once (default ${defaultMaxConnections}, less if the open-files limit is lower; 0: no cap)
      --max-connections-per-ip N
                               open connections from one address in this process; beyond it new
                               ones are closed at once (default ${defaultMaxConnectionsPerIp}; 0: no cap). Behind a
                               proxy, every connection comes from the proxy: give 0, and cap
                               connections per client at the proxy
      --trust-proxy ADDRESSES  believe X-Forwarded-For, -Host and -Proto from these proxies: IP
                               addresses, CIDR ranges, loopback, linklocal or uniquelocal,
                               comma-separated; repeatable; or true: from any peer
      --queue-max-messages N   messages queued per room for an absent peer (default 64)
      --queue-max-bytes N      bytes queued per room for an absent peer (default 262144)
      --queue-max-age SECONDS  how long a queued message is kept (default 0: while its sender stays)
      --ice-server URL         an ICE server for clients; repeatable; replaces the default STUN server
      --turn-url URL           a TURN server that takes REST API credentials; repeatable
      --turn-secret SECRET     its shared secret (or set RTC_NOTIFY_TURN_SECRET)
      --turn-ttl SECONDS       lifetime of TURN credentials (default 86400)
      --redis URL              share rooms with other instances through this Redis
      --redis-cluster URL      the same through a Redis Cluster: a node's URL; repeatable
      --workers N              run N worker processes behind the port; every handshake of a room goes to
                               the same worker, so rooms need no --redis on one machine (tcp: only;
                               the caps above hold in each worker)
      --metrics                serve Prometheus metrics at /metrics
      --no-demo                do not serve the demo call page at /
  -d, --verbose                debug logging
  -q, --quiet                  print only fatal errors (and, with port 0, the URL)
  -h, --help                   show this help`

// The flags parseArgs knows; numbers are strings here and checked below, each with its own message.
const flags = {
  listen: { type: 'string', short: 'l', default: 'tcp:127.0.0.1:8080' },
  certfile: { type: 'string' },
  keyfile: { type: 'string' },
  path: { type: 'string', multiple: true },
  host: { type: 'string', multiple: true },
  origin: { type: 'string', multiple: true },
  heartbeat: { type: 'string' },
  'resume-grace': { type: 'string' },
  'room-size': { type: 'string' },
  'max-rooms': { type: 'string' },
  'max-peers': { type: 'string' },
  'max-payload': { type: 'string' },
  'max-buffered-bytes': { type: 'string' },
  'ip-message-rate': { type: 'string' },
  'ip-byte-rate': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'queue-max-messages': { type: 'string' },
  'queue-max-bytes': { type: 'string' },
  'queue-max-age': { type: 'string' },
  'ice-server': { type: 'string', multiple: true },
  'turn-url': { type: 'string', multiple: true },
  'turn-secret': { type: 'string' },
  'turn-ttl': { type: 'string' },
  redis: { type: 'string' },
  'redis-cluster': { type: 'string', multiple: true },
  workers: { type: 'string' },
  'trust-proxy': { type: 'string', multiple: true },
  metrics: { type: 'boolean', default: false },
  'no-demo': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'd', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const satisfies ParseArgsConfig['options']

const listenPattern = /^(tcp|tls):([A-Za-z0-9_.-]+):(\d{1,5})$/

/**
 * Reads the command line.
 * @param argv the arguments after the program name
 * @param env the environment (for RTC_NOTIFY_TURN_SECRET)
 * @throws UsageError with a one-line message when the arguments are wrong
 */
export function parseCli (argv: string[], env: NodeJS.ProcessEnv = {}): CliRequest {
  let parsed
  try {
    parsed = parseArgs({ args: withNegativeNumbersAttached(argv), strict: true, allowPositionals: false, options: flags })
  } catch (err) {
    // parseArgs may add lines of advice (about '--', or a forgotten argument): keep the first.
    throw new UsageError((err as Error).message.split('\n', 1)[0]!.replace(/\s*To specify an option argument.*$/, ''))
  }
  const v = parsed.values
  if (v.help) return { help: true }

  const listen = listenPattern.exec(v.listen)
  if (listen === null) throw new UsageError(`invalid --listen ${JSON.stringify(v.listen)}: expected TYPE:HOST:PORT with TYPE tcp or tls, e.g. tcp:127.0.0.1:8080`)
  // The pattern's three groups always match.
  const [, kind, host, portText] = listen as unknown as [string, 'tcp' | 'tls', string, string]
  const port = Number(portText)
  if (port > 65535) throw new UsageError(`invalid --listen port ${port}: at most 65535`)
  const transport = kind
  if (transport === 'tls' && (v.certfile === undefined || v.keyfile === undefined)) {
    throw new UsageError('a tls: listener needs both --certfile and --keyfile')
  }
  if (v.verbose && v.quiet) throw new UsageError('--verbose and --quiet cannot be used together')
  for (const path of v.path ?? []) {
    if (!path.startsWith('/')) throw new UsageError(`invalid --path ${JSON.stringify(path)}: must start with /`)
  }
  const turnSecret = v['turn-secret'] ?? env.RTC_NOTIFY_TURN_SECRET
  if (v['turn-url'] !== undefined && (turnSecret === undefined || turnSecret === '')) {
    throw new UsageError('--turn-url needs --turn-secret (or RTC_NOTIFY_TURN_SECRET)')
  }
  for (const [flag, url] of [['--redis', v.redis], ...(v['redis-cluster'] ?? []).map(url => ['--redis-cluster', url])]) {
    if (url !== undefined && !/^rediss?:\/\/./.test(url)) {
      throw new UsageError(`invalid ${flag} ${JSON.stringify(url)}: expected a URL like redis://HOST:PORT`)
    }
  }
  if (v.redis !== undefined && v['redis-cluster'] !== undefined) throw new UsageError('--redis and --redis-cluster cannot be used together')
  const workers = count('--workers', v.workers)
  if (workers !== undefined && transport === 'tls') {
    throw new UsageError('--workers cannot serve a tls: listener (the primary must read each request\'s path to route it by room): terminate TLS at a proxy in front and listen with tcp:')
  }

  return {
    help: false,
    config: {
      transport,
      host,
      port,
      certfile: v.certfile,
      keyfile: v.keyfile,
      paths: v.path,
      hosts: v.host,
      origins: v.origin,
      logLevel: v.verbose ? 'debug' : v.quiet ? 'fatal' : 'info',
      heartbeat: seconds('--heartbeat', v.heartbeat),
      resumeGrace: seconds('--resume-grace', v['resume-grace']),
      roomSize: roomSize(v['room-size']),
      maxRooms: count('--max-rooms', v['max-rooms']),
      maxPeers: count('--max-peers', v['max-peers']),
      maxPayload: count('--max-payload', v['max-payload']),
      maxBufferedBytes: count('--max-buffered-bytes', v['max-buffered-bytes']),
      ipMessageRate: count('--ip-message-rate', v['ip-message-rate'], 0),
      ipByteRate: count('--ip-byte-rate', v['ip-byte-rate'], 0),
      maxConnections: count('--max-connections', v['max-connections'], 0),
      maxConnectionsPerIp: count('--max-connections-per-ip', v['max-connections-per-ip'], 0) ?? defaultMaxConnectionsPerIp,
      queueMaxMessages: count('--queue-max-messages', v['queue-max-messages']),
      queueMaxBytes: count('--queue-max-bytes', v['queue-max-bytes']),
      queueMaxAge: seconds('--queue-max-age', v['queue-max-age']),
      demo: !v['no-demo'],
      metrics: v.metrics,
      iceServers: v['ice-server'],
      turnUrls: v['turn-url'],
      turnSecret,
      turnTtl: count('--turn-ttl', v['turn-ttl']),
      redis: v.redis,
      redisCluster: v['redis-cluster'],
      workers,
      trustProxy: trustedProxies(v['trust-proxy'])
    }
  }
}

// proxy-addr's names for address ranges, which Fastify's trustProxy passes on to it.
const namedRanges = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * Reads --trust-proxy: `true`, or the proxies' addresses, CIDR ranges and named ranges
 * (comma-separated, the flag repeatable). A hop count is not a form it takes: counting hops
 * trusts whoever connects, proxy or not.
 */
function trustedProxies (values: string[] | undefined): true | string[] | undefined {
  if (values === undefined) return undefined
  const entries = values.flatMap(value => value.split(',')).map(entry => entry.trim())
  if (entries.includes('true')) {
    if (entries.length > 1) throw new UsageError('--trust-proxy true trusts every peer: it takes no addresses besides')
    return true
  }
  for (const entry of entries) {
    if (!isAddressRange(entry)) {
      throw new UsageError(`invalid --trust-proxy ${JSON.stringify(entry)}: expected true, or the proxies' IP addresses or CIDR ranges (or loopback, linklocal, uniquelocal), comma-separated`)
    }
  }
  return entries
}

function isAddressRange (entry: string): boolean {
  if (namedRanges.has(entry)) return true
  const [address = '', bits, ...more] = entry.split('/')
  const version = isIP(address)
  if (version === 0 || more.length > 0) return false
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128))
}

function seconds (flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected a number of seconds, 0 or more`)
  }
  return n
}

function roomSize (value: string | undefined): number | undefined {
  const n = count('--room-size', value, 2)
  if (n !== undefined && n > maxRoomSize) throw new UsageError(`invalid --room-size ${JSON.stringify(value)}: at most ${maxRoomSize}`)
  return n
}

function count (flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected a whole number, ${min} or more`)
  return n
}

/**
 * parseArgs takes the "-1" of "--heartbeat -1" for a flag and calls the value missing ("argument
 * is ambiguous"): a negative number after a flag that takes a value is joined to it
 * ("--heartbeat=-1"), so that the flag's own check says what is wrong.
 */
function withNegativeNumbersAttached (argv: string[]): string[] {
  const joined: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') return [...joined, ...argv.slice(i)]
    const next = argv[i + 1]
    const name = arg.slice(2)
    const takesValue = arg.startsWith('--') && Object.hasOwn(flags, name) && flags[name as keyof typeof flags].type === 'string'
    if (takesValue && next !== undefined && /^-\.?\d/.test(next)) {
      joined.push(`${arg}=${next}`)
      i++
    } else {
      joined.push(arg)
    }
  }
  return joined
}
