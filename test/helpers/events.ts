import type { NotifyDecorator, NotifyEventMap, NotifyEventName } from '../../lib/index.js'
import { until } from './client.js'

/** Every event of `fastify.notify`; the type check below fails if NotifyEventMap grows. */
export const eventNames = [
  'room:created', 'room:ended', 'peer:joined', 'peer:left', 'peer:reconnecting', 'peer:resumed',
  'message:relayed', 'message:refused', 'handshake:refused'
] as const satisfies readonly NotifyEventName[]
const everyEventListed: Exclude<NotifyEventName, typeof eventNames[number]> extends never ? true : never = true
void everyEventListed

/** One event as a test saw it: its name, its payload, and the app (instance) that fired it. */
export interface SeenEvent<K extends NotifyEventName = NotifyEventName> {
  name: K
  payload: NotifyEventMap[K]
  instance: string
}

/**
 * Records every event the apps fire, in the order they fire, each labelled with its instance.
 * Listening to `message:relayed` too: a test that must not listen to it filters it out.
 */
export class EventLog {
  readonly seen: SeenEvent[] = []

  /** Starts recording the events of `api`, labelled `instance`. */
  watch (api: NotifyDecorator, instance = 'app', names: readonly NotifyEventName[] = eventNames): this {
    for (const name of names) {
      api.on(name, (payload: NotifyEventMap[typeof name]) => { this.seen.push({ name, payload, instance } as SeenEvent) })
    }
    return this
  }

  /** The events named `name`, optionally only those about `roomId`. */
  named<K extends NotifyEventName>(name: K, roomId?: string): Array<SeenEvent<K>> {
    return this.seen.filter((e): e is SeenEvent<K> => e.name === name &&
      (roomId === undefined || (e.payload as { roomId?: string }).roomId === roomId))
  }

  /** The events about `roomId`, as `name@instance` strings, in order. */
  story (roomId: string): string[] {
    return this.seen.filter(e => (e.payload as { roomId?: string }).roomId === roomId).map(e => `${e.name}@${e.instance}`)
  }

  /** Waits until `count` events named `name` (about `roomId`, when given) were seen; returns them. */
  async waitFor<K extends NotifyEventName>(name: K, roomId?: string, count = 1): Promise<Array<SeenEvent<K>>> {
    await until(() => this.named(name, roomId).length >= count)
    return this.named(name, roomId)
  }
}
