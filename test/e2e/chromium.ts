import { chromium, type Browser } from 'playwright-core'

/** Chromium's flags for the tests: headless, no network chatter, a fake camera and microphone. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream'
]

/** Launches the system's Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium), headless. */
export function launchChromium (): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: chromiumArgs
  })
}
