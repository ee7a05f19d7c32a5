// A page of the original protocol (test/e2e/seed-page.html: a bare WebSocket, GET
// /peerconnection and NOTIFY only) still makes calls in a room of two: with another one like
// it, and with the demo page (joinCall) on either side.
import type { BrowserContext, Page } from 'playwright-core'
import t from 'tap'
import { launchChromium } from './chromium.js'
import { connected, remoteVideoPlays, says } from './demo-call.js'
import { startDemoApp } from './demo-app.js'

const browser = await launchChromium()
t.teardown(() => browser.close())
const server = await startDemoApp(t)

let rooms = 0
const newRoom = (): string => `seed-${++rooms}`

async function open (context: BrowserContext, path: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(new URL(path, server.http).href)
  return page
}

async function inCall (...pages: Page[]): Promise<void> {
  for (const page of pages) {
    await connected(page)
    await remoteVideoPlays(page)
  }
}

t.test('two pages of the original protocol call each other', async t => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const room = newRoom()
  const caller = await open(context, `/seed.html?room=${room}&caller`)
  const callee = await open(context, `/seed.html?room=${room}`)
  await inCall(caller, callee)
  t.pass('both see the other')
})

t.test('a seed caller and the demo page as the callee', async t => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const room = newRoom()
  const caller = await open(context, `/seed.html?room=${room}&caller`)
  const callee = await open(context, `/?${room}`)
  await inCall(caller, callee)
  await says(callee, 'In a call.')
  t.pass('the demo page answers the seed page\'s offer')
})

t.test('the demo page as the caller and a seed callee', async t => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const caller = await open(context, '/')
  const link = new URL(await caller.locator('#share a').getAttribute('href') ?? '')
  const callee = await open(context, `/seed.html?room=${link.search.slice(1)}`)
  await inCall(caller, callee)
  await says(caller, 'In a call.')
  t.pass('the demo page offers when the seed page says hello')
})
