import type { BrowserContext, Page } from 'playwright-core'

/** Two pages of the demo in a call. */
export interface DemoCall {
  caller: Page
  callee: Page
  /** The link the caller's page shows. */
  link: string
}

// Generous: two pages encoding and decoding fake video on a small machine.
const timeout = 30_000

/**
 * Opens the demo page as the caller, reads the link it shows, and opens that link as the callee.
 * @param url the server's URL (its demo page at /)
 * @param calleeOrigin open the callee's link through this origin instead (a proxy)
 */
export async function startDemoCall (context: BrowserContext, url: string, calleeOrigin?: string): Promise<DemoCall> {
  const caller = await context.newPage()
  await caller.goto(url)
  const shown = await caller.locator('#share a').getAttribute('href', { timeout })
  if (shown === null) throw new Error('the caller page shows no link')
  const link = calleeOrigin === undefined ? shown : new URL(new URL(shown).search, calleeOrigin).href
  const callee = await context.newPage()
  await callee.goto(link)
  return { caller, callee, link: shown }
}

/** Waits until the page's RTCPeerConnection is connected. */
export async function connected (page: Page): Promise<void> {
  await page.waitForFunction(() => window.call?.pc?.connectionState === 'connected', undefined, { timeout })
}

/** Waits until the remote video has a size and plays on from where it is now. */
export async function remoteVideoPlays (page: Page): Promise<void> {
  const from = await page.evaluate(() => (document.getElementById('remote') as HTMLVideoElement).currentTime)
  await page.waitForFunction(from => {
    const video = document.getElementById('remote') as HTMLVideoElement
    return video.videoWidth > 0 && video.currentTime > from
  }, from, { timeout })
}

/** Waits until the page's status line says `words`. */
export async function says (page: Page, words: string): Promise<void> {
  await page.waitForFunction(words => document.getElementById('status')?.textContent === words, words, { timeout })
}

declare global {
  interface Window {
    /** What the demo page exposes for tests. */
    call?: {
      client?: import('../../lib/client.js').NotifyClient
      /** The connection to the other side (in a group call, to the last one who joined). */
      pc?: RTCPeerConnection
      isCaller: boolean
      /** The call joinCall made. */
      joined?: import('../../lib/client.js').Call
    }
  }
}
