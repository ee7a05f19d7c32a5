import type { Test } from 'tap'
import { startCli, type RunningCli } from '../helpers/cli.js'
import type { TestPeer } from '../helpers/client.js'

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
