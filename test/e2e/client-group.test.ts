// The signaling client (NotifyClient) in a group room and under the app's control, in
// headless Chromium against a plugin app: ROOM, PRESENCE with the peer id, NOTIFY with `to` and
// `from`, APP messages, and the close causes `kicked` and `room-closed`.
import t from 'tap'
import { join } from '../helpers/client.js'
import { freshRoom, startServer } from '../helpers/server.js'
import { launchChromium } from './chromium.js'
import { ClientPage } from './client-page.js'

const browser = await launchChromium()
t.teardown(() => browser.close())
const server = await startServer(t, {
  serveClient: true,
  roomSize: (_request, roomId) => roomId.startsWith('pair-') ? 2 : 4,
  shareIdentity: true,
  authorize: request => ({ name: String(request.query.name ?? 'anonymous') })
})
const page = await ClientPage.open(browser, server.http)

/** Waits until the client holds a session (it asks for one as it connects); returns its peer id. */
async function sessionOf (client: number): Promise<string> {
  const handle = await page.page.waitForFunction(client =>
    (window as unknown as { clients: Array<{ session?: { peer: string } }> }).clients[client].session?.peer, client)
  return await handle.jsonValue() as string
}

t.test('a group room: who is there, who comes and goes, and addressed messages', async t => {
  const roomId = freshRoom()
  const ada = await page.join(`/call/${roomId}?name=Ada`)
  const adaRoom = await page.recorded(ada, 'room')
  t.match(adaRoom.detail, { size: 4, peers: [] }, 'the first peer is alone')
  const adaId = (adaRoom.detail as { peer: string }).peer
  t.equal(await page.run(ada, client => client.peerId, null), adaId)

  const bob = await page.join(`/call/${roomId}?name=Bob`)
  const bobRoom = (await page.recorded(bob, 'room')).detail as { peer: string, size: number, peers: unknown[] }
  t.same(bobRoom.peers, [{ peer: adaId, identity: { name: 'Ada' } }], 'the second peer is told who is there')
  const bobId = bobRoom.peer
  t.match(await page.recorded(ada, 'presence'), { detail: 'joined', peer: bobId, identity: { name: 'Bob' } },
    'presence: the state as detail, the peer and its identity on the event')

  // A peer without a browser, to see the frames themselves.
  const carol = await join(server.room(roomId, 'name=Carol'))
  const carolRoom = (await carol.next()).data as { peer: string }
  await page.recorded(ada, 'presence', 2)
  await page.recorded(bob, 'presence', 1)

  await page.run(ada, (client, to) => client.notify({ only: 'for bob' }, { to }), bobId)
  t.match(await page.recorded(bob, 'notify'), { detail: { only: 'for bob' }, from: adaId }, 'to one peer, from the sender')
  await page.run(ada, client => client.notify({ to: 'everyone' }), null)
  t.match(await page.recorded(bob, 'notify', 2), { detail: { to: 'everyone' }, from: adaId })
  t.same(await carol.next(), { from: adaId, method: 'NOTIFY', data: { to: 'everyone' } }, 'without to, every other peer gets it; Carol did not get the first one')

  carol.send({ method: 'NOTIFY', data: 'from carol', to: adaId })
  t.match(await page.recorded(ada, 'notify'), { detail: 'from carol', from: carolRoom.peer })

  t.ok(await server.app.notify.send(roomId, { note: 'from the app' }), 'the app sends to the room')
  t.same(await page.event(ada, 'message'), { note: 'from the app' }, 'an APP frame is a message event')
  t.same(await page.event(bob, 'message'), { note: 'from the app' })
  t.same(await page.eventTypes(ada), ['open', 'room', 'presence', 'presence', 'notify', 'message'], 'no error: every frame was understood')

  carol.socket.close()
  t.match(await page.recorded(ada, 'presence', 3), { detail: 'left', peer: carolRoom.peer })
  t.equal(await page.run(ada, client => client.state, null), 'open', 'one peer leaving does not end the call for the others')
  await page.run(ada, client => client.close(), null)
  await page.run(bob, client => client.close(), null)
})

t.test('kicked by the app: closed with the cause kicked, and no resume', async t => {
  const roomId = freshRoom()
  const ada = await page.join({ roomId })
  const adaId = ((await page.recorded(ada, 'room')).detail as { peer: string }).peer
  await sessionOf(ada)
  t.ok(await server.app.notify.kick(roomId, adaId, 'bye now'))
  t.same(await page.event(ada, 'closed'), { code: 4003, reason: 'bye now', cause: 'kicked' })
  t.notOk((await page.eventTypes(ada)).includes('reconnecting'), 'a kicked peer does not try to come back')
})

t.test('the room closed by the app: closed with the cause room-closed', async t => {
  const roomId = freshRoom()
  const ada = await page.join({ roomId })
  const bob = await page.join({ roomId })
  await page.recorded(ada, 'presence')
  t.ok(await server.app.notify.closeRoom(roomId, 'meeting cancelled'))
  for (const client of [ada, bob]) {
    t.same(await page.event(client, 'closed'), { code: 4004, reason: 'meeting cancelled', cause: 'room-closed' })
    t.notOk((await page.eventTypes(client)).includes('reconnecting'))
  }
})

t.test('a two-party room: no ROOM frame, presence names the partner, notify says it sent', async t => {
  const roomId = `pair-${freshRoom()}`
  const ada = await page.join({ roomId })
  await sessionOf(ada)
  const bob = await page.join({ roomId })
  const joined = await page.recorded(ada, 'presence')
  t.equal(joined.detail, 'joined')
  const bobId = await sessionOf(bob)
  t.equal(joined.peer, bobId, 'the partner is named by its peer id')
  await page.run(bob, client => client.notify('hi'), null)
  t.match(await page.recorded(ada, 'notify'), { detail: 'hi', from: bobId }, 'in a two-party room, from is the partner PRESENCE named')
  t.equal(await page.run(ada, client => client.room, null), undefined, 'no ROOM in a two-party room')
  await page.run(bob, client => client.close(), null)
  t.same(await page.event(ada, 'closed'), { code: 1000, reason: 'the other peer left', cause: 'peer-left' })
})
