import type { Browser, Page } from 'playwright-core'
import type { ConnectOptions, NotifyClient, RoomTarget } from '../../lib/client.js'

/** An event a client dispatched, as the page recorded it. */
export interface RecordedEvent {
  type: string
  /** The event's detail; an error's kind, reason and message. */
  detail: unknown
  /** A notify event's sender. */
  from?: string
  /** A presence event's peer, and its identity when the server shares it. */
  peer?: string
  identity?: unknown
}

/** What the test page keeps on `window`. */
interface ClientTestWindow {
  join (target: RoomTarget, options?: ConnectOptions): number
  clients: NotifyClient[]
  events: RecordedEvent[][]
}

const timeout = 15_000

/**
 * A page of the server's origin that imports the client module and drives clients in it, recording
 * every event they dispatch.
 */
export class ClientPage {
  private constructor (readonly page: Page) {}

  /**
   * Opens the page: /client.js itself, shown as text, which makes a document of the server's
   * origin. (A page made up by the test, through request interception, would not do: Chromium
   * counts it as public and blocks its WebSockets to 127.0.0.1 as local network access.)
   */
  static async open (browser: Browser, serverUrl: string, modulePath = '/client.js'): Promise<ClientPage> {
    const page = await browser.newPage()
    await page.goto(new URL(modulePath, serverUrl).href)
    await page.evaluate(async src => {
      const { connect, NotifyError } = await import(src) as typeof import('../../lib/client.js')
      const w = window as unknown as ClientTestWindow
      w.clients = []
      w.events = []
      w.join = (target, options) => {
        const client = connect(target, options)
        const events: RecordedEvent[] = []
        for (const type of ['open', 'notify', 'presence', 'room', 'message', 'peer-left', 'closed', 'error', 'reconnecting', 'reconnected']) {
          client.addEventListener(type, event => {
            const detail = (event as CustomEvent).detail
            const { from, peer, identity } = event as Event & { from?: string, peer?: string, identity?: unknown }
            events.push({
              type,
              detail: detail instanceof NotifyError ? { kind: detail.kind, reason: detail.reason, message: detail.message } : detail,
              ...(from === undefined ? {} : { from }),
              ...(peer === undefined ? {} : { peer }),
              ...(identity === undefined ? {} : { identity })
            })
          })
        }
        w.clients.push(client)
        w.events.push(events)
        return w.clients.length - 1
      }
    }, modulePath)
    return new ClientPage(page)
  }

  /** Connects a new client; returns its index for the other methods. */
  async join (target: RoomTarget, options?: ConnectOptions): Promise<number> {
    return await this.page.evaluate(([target, options]) => (window as unknown as ClientTestWindow).join(target, options), [target, options] as const)
  }

  /**
   * Waits for the client's `n`th event of `type`.
   * @returns its detail
   */
  async event (client: number, type: string, n = 1): Promise<unknown> {
    const handle = await this.page.waitForFunction(([client, type, n]) => {
      const events = (window as unknown as ClientTestWindow).events[client].filter(e => e.type === type)
      return events.length >= n ? { detail: events[n - 1].detail } : false
    }, [client, type, n] as const, { timeout })
    return (await handle.jsonValue() as { detail: unknown }).detail
  }

  /** Waits for the client's `n`th event of `type`; returns it as recorded (detail, from, peer). */
  async recorded (client: number, type: string, n = 1): Promise<RecordedEvent> {
    const handle = await this.page.waitForFunction(([client, type, n]) => {
      const events = (window as unknown as ClientTestWindow).events[client].filter(e => e.type === type)
      return events.length >= n ? events[n - 1] : false
    }, [client, type, n] as const, { timeout })
    return await handle.jsonValue() as RecordedEvent
  }

  /** The types of the events the client dispatched so far, in order. */
  async eventTypes (client: number): Promise<string[]> {
    return await this.page.evaluate(client => (window as unknown as ClientTestWindow).events[client].map(e => e.type), client)
  }

  /**
   * Runs `fn` with the client in the page.
   * @returns what it returns (or resolves to), or `{ rejected: { kind, reason, message } }`
   */
  async run<A, R> (client: number, fn: (client: NotifyClient, arg: A) => R | Promise<R>, arg: A): Promise<R | { rejected: { kind: unknown, reason: unknown, message: string } }> {
    return await this.page.evaluate(async ([client, source, arg]) => {
      // The test's function, sent as source to run in the page.
      const fn = new Function(`return (${source})`)() as (client: NotifyClient, arg: unknown) => unknown
      try {
        return await fn((window as unknown as ClientTestWindow).clients[client], arg)
      } catch (error) {
        const e = error as { kind?: unknown, reason?: unknown, message: string }
        return { rejected: { kind: e.kind, reason: e.reason, message: e.message } }
      }
    }, [client, fn.toString(), arg] as const) as R | { rejected: { kind: unknown, reason: unknown, message: string } }
  }
}
