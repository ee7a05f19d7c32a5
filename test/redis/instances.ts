import type { Test } from 'tap'
import { startCli, type RunningCli } from '../helpers/cli.js'
import { join, type TestPeer } from '../helpers/client.js'

/** Starts `rtc-notify --redis URL` as a process of its own; killed when the test ends. */
export async function startInstance (t: Test, redisUrl: string, flags: string[] = []): Promise<RunningCli> {
  return await startCli(t, ['-l', 'tcp:127.0.0.1:0', '--redis', redisUrl, '--no-demo', '-q', ...flags])
}

/** The ws:// URL of a room at an instance. */
export function roomAt (instance: RunningCli, room: string, query?: string): string {
  return `${instance.ws}/call/${room}${query === undefined ? '' : '?' + query}`
}

/** The status of an instance's GET /health, or 0 when it does not answer. */
export async function healthStatus (instance: RunningCli): Promise<number> {
  try {
    return (await fetch(instance.url + 'health')).status
  } catch {
    return 0
  }
}

/** How `peer`'s connection was closed, waiting up to `ms`. */
export async function closedWithin (peer: TestPeer, ms: number): Promise<{ code: number, reason: string }> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([peer.closed, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** A session: what GET /session answers. */
export interface Session { peer: string, token: string, grace: number }

/** Asks for a session and returns it. */
export async function openSession (peer: TestPeer): Promise<Session> {
  const answer = await peer.get('/session', 'session')
  if (answer.code !== 'success') throw new Error(`no session: ${JSON.stringify(answer)}`)
  return answer.result as Session
}

let rooms = 0
/** A room id no other test uses. */
export function freshRoom (): string {
  return `scale-${process.pid}-${++rooms}`
}

/** Two calls: `together` with both peers at `a`, `split` with one at `a` and one at `b`. */
export interface CoLocatedAndSplit { together: string, p1: TestPeer, p2: TestPeer, split: string, s1: TestPeer, s2: TestPeer }

/**
 * Starts a call with both peers at `a`, relaying in process once a few frames went both ways
 * (the first ones may go through Redis), and a call split across `a` and `b`, relaying.
 */
export async function coLocatedAndSplit (t: Test, a: RunningCli, b: RunningCli): Promise<CoLocatedAndSplit> {
  const together = freshRoom()
  const p1 = await join(roomAt(a, together))
  const p2 = await join(roomAt(a, together))
  const split = freshRoom()
  const s1 = await join(roomAt(a, split))
  const s2 = await join(roomAt(b, split))
  s2.send({ method: 'NOTIFY', data: 'hello' })
  t.same(await s1.next(), { method: 'NOTIFY', data: 'hello' })
  for (let i = 0; i < 6; i++) {
    p1.send({ method: 'NOTIFY', data: i })
    t.same(await p2.next(), { method: 'NOTIFY', data: i })
    p2.send({ method: 'NOTIFY', data: -i })
    t.same(await p1.next(), { method: 'NOTIFY', data: -i })
  }
  return { together, p1, p2, split, s1, s2 }
}
