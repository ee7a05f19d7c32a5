// A plugin app serves the browser client itself (serveClient), under its prefix; a page imports
// it from there and joins a room with connect({ roomId, url: prefix }).
import t from 'tap'
import { join } from '../helpers/client.js'
import { startServer } from '../helpers/server.js'
import { launchChromium } from './chromium.js'
import { ClientPage } from './client-page.js'

t.test('the client served at {prefix}/client.js joins rooms under the prefix', async t => {
  const server = await startServer(t, { prefix: '/rtc', serveClient: true })
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  const res = await fetch(`${server.http}/rtc/client.js`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/javascript/)
  t.equal((await fetch(`${server.http}/rtc/wire.js`)).status, 200, 'the module it imports is served beside it')

  const page = await ClientPage.open(browser, server.http, '/rtc/client.js')
  const client = await page.join({ roomId: 'served', url: '/rtc' })
  await page.event(client, 'open')
  const other = await join(server.room('served'))
  await page.run(client, client => client.notify({ hello: 'from the page' }), null)
  t.same(await other.next(), { method: 'NOTIFY', data: { hello: 'from the page' } })
  other.send({ method: 'NOTIFY', data: 'to the page' })
  t.same(await page.event(client, 'notify'), 'to the page')
})

t.test('without serveClient, nothing is served', async t => {
  const server = await startServer(t, { prefix: '/rtc' })
  t.equal((await fetch(`${server.http}/rtc/client.js`)).status, 404)
})
