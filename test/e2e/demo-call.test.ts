// The demo page of the standalone server: a real two-party video call in headless Chromium.
import t from 'tap'
import { launchChromium } from './chromium.js'
import { connected, remoteVideoPlays, says, startDemoCall } from './demo-call.js'
import { startServer } from './standalone-server.js'

const server = await startServer()
const browser = await launchChromium()
t.teardown(async () => {
  await browser.close()
  await server.stop()
})

t.test('the caller shares a link, the callee opens it, and both see each other', async t => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const { caller, callee, link } = await startDemoCall(context, server.url)

  t.match(link, new RegExp(`^${server.url}\\?[A-Za-z0-9_-]+$`), 'the link is the page with a call id')
  t.equal(caller.url(), link, 'the caller put the call id into its own URL')
  t.equal(await caller.evaluate(() => window.call?.isCaller), true)
  t.equal(await callee.evaluate(() => window.call?.isCaller), false)

  for (const [name, page] of [['caller', caller], ['callee', callee]] as const) {
    await connected(page)
    await remoteVideoPlays(page)
    await says(page, 'In a call.')
    t.pass(`the ${name} is connected and the other side's video plays`)
  }
  t.ok(await callee.locator('#share').isHidden(), 'only the caller shows the link')

  const third = await context.newPage()
  await third.goto(link)
  await says(third, 'This call is full: two people are already in it.')
  t.pass('a third page is told plainly that the call is full')
  await connected(caller)
  await remoteVideoPlays(caller)
  t.pass('the call goes on')

  await callee.click('#hangup')
  await says(callee, 'You hung up.')
  await says(caller, 'The other side hung up.')
  t.equal(await caller.evaluate(() => window.call?.pc?.connectionState), 'closed', 'the caller closed its peer connection')
  t.ok(await caller.locator('#again').isVisible(), 'the caller is offered a new call')
})

t.test('a call id that is not URL-safe is refused by the page itself', async t => {
  const page = await browser.newPage()
  t.teardown(() => page.close())
  await page.goto(`${server.url}?not%20an%20id`)
  await says(page, 'This link is not a call link: a call id has only letters, digits and - . _ ~')
  t.pass()
})
