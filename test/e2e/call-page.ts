import type { BrowserContext, Page } from 'playwright-core'
import type { Call, JoinCallOptions } from '../../lib/client.js'

// Generous: several pages encoding and decoding fake video on a small machine.
const timeout = 30_000

/** What the call test page keeps on `window`. */
interface CallTestWindow {
  call?: Call
  /**
   * The call's events, in order: `peer <id>`, `peer-left <id>`, `ended <cause>`, `error <message>`,
   * and the client's `reconnected`.
   */
  callEvents: string[]
  /** Why joinCall rejected, if it did. */
  joinError?: { kind?: string, message: string }
}

/**
 * A page of the server's origin (the client module itself, shown as text, as ClientPage does)
 * that joins a call with `joinCall` and a fake camera, and shows a `<video data-peer="<id>">` per
 * remote peer, the way an app would.
 */
export class CallPage {
  private constructor (readonly page: Page) {}

  /**
   * Opens the page.
   * @param origin the server's URL (or a proxy's), whose /client.js the page imports
   */
  static async open (context: BrowserContext, origin: string, modulePath = '/client.js'): Promise<CallPage> {
    const page = await context.newPage()
    await page.goto(new URL(modulePath, origin).href)
    await page.evaluate(() => {
      document.body.replaceChildren()
      ;(window as unknown as CallTestWindow).callEvents = []
    })
    return new CallPage(page)
  }

  /**
   * Joins the call; resolves once joinCall did (or rejected: see `joinError`).
   * @param options joinCall's options, but the stream: the page gets its fake camera itself
   */
  async join (options: Omit<JoinCallOptions, 'stream'>, modulePath = '/client.js'): Promise<void> {
    await this.page.evaluate(async ([options, modulePath]) => {
      const { joinCall } = await import(modulePath) as typeof import('../../lib/client.js')
      const w = window as unknown as CallTestWindow
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } })
      try {
        const call = w.call = await joinCall({ ...options, stream })
        call.on('peer', peer => {
          w.callEvents.push(`peer ${peer.peerId}`)
          const video = document.createElement('video')
          video.dataset.peer = peer.peerId
          video.autoplay = video.muted = video.playsInline = true
          video.srcObject = peer.stream
          document.body.append(video)
        })
        call.on('peer-left', peer => {
          w.callEvents.push(`peer-left ${peer.peerId}`)
          document.querySelector(`video[data-peer="${peer.peerId}"]`)?.remove()
        })
        call.on('ended', detail => w.callEvents.push(`ended ${detail.cause}`))
        call.on('error', error => w.callEvents.push(`error ${(error as Error).message}`))
        call.client.addEventListener('reconnected', () => w.callEvents.push('reconnected'))
      } catch (error) {
        const e = error as { kind?: string, message: string }
        w.joinError = { kind: e.kind, message: e.message }
      }
    }, [options, modulePath] as const)
  }

  /** The call's events so far. */
  async events (): Promise<string[]> {
    return await this.page.evaluate(() => (window as unknown as CallTestWindow).callEvents)
  }

  /** Why joinCall rejected, or undefined. */
  async joinError (): Promise<{ kind?: string, message: string } | undefined> {
    return await this.page.evaluate(() => (window as unknown as CallTestWindow).joinError)
  }

  /** This side's peer id in the call. */
  async peerId (): Promise<string> {
    return await this.page.evaluate(() => (window as unknown as CallTestWindow).call!.peerId)
  }

  /** The ids of the remote peers the call has. */
  async peerIds (): Promise<string[]> {
    return await this.page.evaluate(() => [...(window as unknown as CallTestWindow).call!.peers.keys()].sort())
  }

  /** Waits until the call has `n` remote peers, each of whose connection is `connected`. */
  async connectedTo (n: number): Promise<void> {
    await this.page.waitForFunction(n => {
      const peers = [...(window as unknown as CallTestWindow).call?.peers.values() ?? []]
      return peers.length === n && peers.every(p => p.connection.connectionState === 'connected')
    }, n, { timeout })
  }

  /**
   * Waits until the page shows exactly `n` remote videos, each with a size and playing on from
   * where it is now.
   */
  async videosPlay (n: number): Promise<void> {
    const from = await this.page.evaluate(() =>
      Object.fromEntries(Array.from(document.querySelectorAll('video')).map(v => [v.dataset.peer, v.currentTime])))
    await this.page.waitForFunction(([n, from]) => {
      const videos = Array.from(document.querySelectorAll('video'))
      return videos.length === n && videos.every(v => v.videoWidth > 0 && v.currentTime > (from[v.dataset.peer!] ?? 0))
    }, [n, from] as const, { timeout })
  }

  /** Runs `fn` with the call in the page; returns what it returns. */
  async run<A, R> (fn: (call: Call, arg: A) => R | Promise<R>, arg: A): Promise<R> {
    return await this.page.evaluate(async ([source, arg]) => {
      const fn = new Function(`return (${source})`)() as (call: Call, arg: unknown) => unknown
      return await fn((window as unknown as CallTestWindow).call!, arg)
    }, [fn.toString(), arg] as const) as R
  }
}
