import { Counter, Gauge, register as defaultRegistry, type Registry } from 'prom-client'
import type { ManagerMetrics } from './room-manager.js'
import type { FailureReason } from './protocol.js'

/** Where rooms and peers are counted: one per running plugin instance. */
export type StatsSource = () => { rooms: number, peers: number }

/**
 * Counts kept as plain numbers on the hot path and handed to prom-client when scraped, so a
 * relayed message costs an addition rather than a metric update. They hold what happened since
 * the previous scrape.
 */
export class NotifyCounters implements ManagerMetrics {
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

interface RegisteredMetrics {
  sources: Set<StatsSource>
  counters: Set<NotifyCounters>
}

// Per registry, the metrics are registered once; every plugin instance in the process adds its
// sources (several apps in one process, or one registered twice, share the same series).
const registered = new WeakMap<Registry, RegisteredMetrics>()

/**
 * Registers the notify_* metrics in `registry` (prom-client's default registry unless given, so
 * an app that already exposes prom-client metrics gets these with them).
 * @returns a function removing this instance's sources again (at close)
 */
export function registerMetrics (stats: StatsSource, counters: NotifyCounters, registry: Registry = defaultRegistry): () => void {
  let metrics = registered.get(registry)
  if (metrics === undefined) {
    metrics = createMetrics(registry)
    registered.set(registry, metrics)
  }
  const { sources, counters: all } = metrics
  sources.add(stats)
  all.add(counters)
  return () => {
    sources.delete(stats)
    all.delete(counters)
  }
}

function createMetrics (registry: Registry): RegisteredMetrics {
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
