// An instance frozen (SIGSTOP) longer than the liveness period while Redis answers the others:
// it is judged dead and its seats are reclaimed, as a crashed one's would be. When it wakes up it
// notices it was presumed dead, registers again and serves on: its sessions resume, the calls
// that ended are closed.
import t from 'tap'
import { join, sleep, until } from '../helpers/client.js'
import { closedWithin, freshRoom, healthStatus, openSession, roomAt, startInstance } from './instances.js'
import { RedisServer } from './redis-server.js'

const frozenMs = 10_000
const healsWithinMs = 15_000

t.test('an instance frozen longer than the liveness period is reaped, then registers again', async t => {
  const redis = await RedisServer.start(t)
  const [frozen, other] = await Promise.all([startInstance(t, redis.url), startInstance(t, redis.url)])
  t.teardown(() => { frozen.child.kill('SIGCONT') })
  const plain = freshRoom()
  const onFrozen = await join(roomAt(frozen, plain))
  const onOther = await join(roomAt(other, plain))
  const resumable = freshRoom()
  const s1 = await join(roomAt(frozen, resumable))
  const s2 = await join(roomAt(other, resumable))
  await openSession(s1)
  await openSession(s2)
  t.match(await s1.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
  t.match(await s2.next(), { method: 'PRESENCE', data: { state: 'joined', peer: String } })
  s1.send({ method: 'NOTIFY', data: 'before' })
  t.same(await s2.next(), { method: 'NOTIFY', data: 'before' })

  frozen.child.kill('SIGSTOP')
  const frozenAt = Date.now()
  t.equal((await closedWithin(onOther, healsWithinMs)).code, 1000, 'the partner of a plain call is closed: its instance is dead')
  t.match(await s2.next(healsWithinMs), { method: 'PRESENCE', data: { state: 'reconnecting', peer: String } }, 'a session peer is dropped, not hung up')
  await sleep(Math.max(0, frozenMs - (Date.now() - frozenAt)))
  frozen.child.kill('SIGCONT')

  t.equal((await closedWithin(onFrozen, healsWithinMs)).code, 1000, 'woken up, the instance closes the peer whose call ended')
  t.match(await s2.next(healsWithinMs), { method: 'PRESENCE', data: { state: 'back', peer: String } }, 'and rebinds the session peer')
  // Sent at once: frames are taken again before the peers elsewhere hear 'back'.
  s1.send({ method: 'NOTIFY', data: 'after' })
  t.same(await s2.next(), { method: 'NOTIFY', data: 'after' })
  s2.send({ method: 'NOTIFY', data: 'and back' })
  // Had the instance not read Redis's answer to 'before' when it froze, that frame was answered
  // failed on waking: the command's timeout runs before its socket is read (and a timeout cannot
  // tell whether Redis ran it; it did).
  const first = await s1.next()
  t.same(first.code === 'failed' ? await s1.next() : first, { method: 'NOTIFY', data: 'and back' })
  await until(async () => await healthStatus(frozen) === 200)
  const p1 = await join(roomAt(frozen, plain))
  const p2 = await join(roomAt(other, plain))
  p2.send({ method: 'NOTIFY', data: 'new call' })
  t.same(await p1.next(), { method: 'NOTIFY', data: 'new call' }, 'the room is free and the instance serves on')
})
