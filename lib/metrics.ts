import type { Registry } from 'prom-client'
import { InvalidOptionError } from './errors.js'
import type { FailureReason } from './protocol.js'

/** Where rooms and peers are counted: one per running plugin instance. */
export type StatsSource = () => { rooms: number, peers: number }

/**
 * Counts kept as plain numbers on the hot path and handed to prom-client when scraped, so a
 * relayed message costs an addition rather than a metric update. They hold what happened since
 * the previous scrape. The room manager's `metrics` (ManagerMetrics) checks their shape where
 * the plugin hands them over; no `implements` here, which would tie these declarations to the
 * room manager's and through them to `ws` types that a consumer may not have.
 */
export class NotifyCounters {
  relayedCount = 0
  queuedCount = 0
  readonly framesRejected = new Map<string, number>()
  readonly handshakesRejected = new Map<number, number>()

  relayed (): void { this.relayedCount++ }
  queued (): void { this.queuedCount++ }
  frameRejected (reason: FailureReason): void {
    this.framesRejected.set(reason.code, (this.framesRejected.get(reason.code) ?? 0) + 1)
  }

  /** Counts a refused handshake by its HTTP status. */
  handshakeRejected (status: number): void {
    this.handshakesRejected.set(status, (this.handshakesRejected.get(status) ?? 0) + 1)
  }
}

type PromClient = typeof import('prom-client')

/**
 * What the plugin needs of a prom-client registry to serve GET /metrics (registering in it takes
 * a whole Registry, which the app's is). Structural, so that option types can do without
 * prom-client, an optional peer dependency.
 */
export interface ServableRegistry {
  readonly contentType: string
  metrics (): Promise<string>
}

interface RegisteredMetrics {
  sources: Set<StatsSource>
  counters: Set<NotifyCounters>
}

/** Where the notify_* metrics go, with prom-client loaded. */
export interface MetricsRegistry {
  readonly registry: ServableRegistry
  /**
   * Adds a plugin instance's sources to the metrics.
   * @returns a function removing them again (at close)
   */
  add (stats: StatsSource, counters: NotifyCounters): () => void
}

// Per registry, the metrics are registered once; every plugin instance in the process adds its
// sources (several apps in one process, or one registered twice, share the same series). The
// map is global rather than module state because the package has an ES module and a CommonJS
// build: an app that loads both (its own import, a dependency's require) must not register the
// metrics twice in one registry, which prom-client refuses.
const registeredKey = Symbol.for('fastify-rtc-notify.metrics')
const registered: WeakMap<object, RegisteredMetrics> =
  ((globalThis as Record<symbol, unknown>)[registeredKey] as WeakMap<object, RegisteredMetrics> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[registeredKey] = new WeakMap<object, RegisteredMetrics>())

/**
 * Loads prom-client and picks the registry for the notify_* metrics: `registry`, or
 * prom-client's default registry, so that an app already exposing prom-client metrics gets these
 * with them. prom-client is an optional peer dependency, loaded only when metrics are on: the
 * app's own copy, whose default registry is the app's.
 * @throws InvalidOptionError (`metrics`) when prom-client is not installed
 */
export async function metricsRegistry (registry?: ServableRegistry): Promise<MetricsRegistry> {
  const prom = await loadPromClient()
  const target = (registry ?? prom.register) as Registry
  return {
    registry: target,
    add (stats, counters) {
      let metrics = registered.get(target)
      if (metrics === undefined) {
        metrics = createMetrics(prom, target)
        registered.set(target, metrics)
      }
      const { sources, counters: all } = metrics
      sources.add(stats)
      all.add(counters)
      return () => {
        sources.delete(stats)
        all.delete(counters)
      }
    }
  }
}

async function loadPromClient (): Promise<PromClient> {
  try {
    return await import('prom-client')
  } catch (err) {
    // ERR_MODULE_NOT_FOUND from import(), MODULE_NOT_FOUND from the CommonJS build's require().
    const { code, message } = err as { code?: unknown, message?: unknown }
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(message).includes("'prom-client'")) {
      throw new InvalidOptionError('metrics', 'needs the prom-client package, which is not installed (npm install prom-client)')
    }
    throw err
  }
}

/* eslint-disable no-new -- a prom-client metric registers itself in its registers when made */
function createMetrics ({ Counter, Gauge }: PromClient, registry: Registry): RegisteredMetrics {
  const sources = new Set<StatsSource>()
  const counters = new Set<NotifyCounters>()
  const sum = (pick: (s: { rooms: number, peers: number }) => number): number =>
    [...sources].reduce((total, source) => total + pick(source()), 0)

  new Gauge({
    name: 'notify_rooms',
    help: 'Rooms with a peer (or a handshake in progress) in this process',
    registers: [registry],
    collect () { this.set(sum(s => s.rooms)) }
  })
  new Gauge({
    name: 'notify_peers',
    help: 'Peers connected (or handshaking) to this process',
    registers: [registry],
    collect () { this.set(sum(s => s.peers)) }
  })
  // The plain counts are what happened since the previous scrape: each scrape adds and clears.
  const countOf = (name: string, help: string, field: 'relayedCount' | 'queuedCount'): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect () {
        for (const c of counters) {
          this.inc(c[field])
          c[field] = 0
        }
      }
    })
  }
  countOf('notify_messages_relayed_total', 'NOTIFY messages delivered to the other peer', 'relayedCount')
  countOf('notify_messages_queued_total', 'NOTIFY messages queued for a peer that was not connected', 'queuedCount')
  new Counter({
    name: 'notify_frames_rejected_total',
    help: 'Frames answered failed, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect () {
      for (const c of counters) {
        for (const [reason, n] of c.framesRejected) this.inc({ reason }, n)
        c.framesRejected.clear()
      }
    }
  })
  new Counter({
    name: 'notify_handshakes_rejected_total',
    help: 'WebSocket handshakes refused, by HTTP status',
    labelNames: ['status'],
    registers: [registry],
    collect () {
      for (const c of counters) {
        for (const [status, n] of c.handshakesRejected) this.inc({ status: String(status) }, n)
        c.handshakesRejected.clear()
      }
    }
  })
  return { sources, counters }
}
