// Call links signed by the app: /rtc/call/<room>?token=<token>, where the token says who may
// join which room until when, and the app's HMAC says the app wrote it.
import { createHmac, timingSafeEqual } from 'node:crypto'

/** Who a call link lets in: what `authorize` returns, the peer's identity in every event. */
export type Caller = { userId: string, name: string }

interface Claims extends Caller {
  room: string
  /** Seconds since the epoch. */
  exp: number
}

/**
 * Signs a link to `room` for `caller`, good until `expiresAt`.
 * @param expiresAt seconds since the epoch
 * @returns the token for the link's `?token=`
 */
export function signCallLink (secret: string, room: string, caller: Caller, expiresAt: number): string {
  const claims: Claims = { room: room.normalize('NFC'), exp: expiresAt, userId: caller.userId, name: caller.name }
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
  return `${payload}.${signature(secret, payload)}`
}

/**
 * Checks a link's token for `room` (as the plugin gives it to `authorize`: decoded, NFC).
 * @returns who it lets in, or undefined when the app did not sign it, or signed it for another
 * room, or it expired
 */
export function verifyCallLink (secret: string, room: string, token: string): Caller | undefined {
  const [payload = '', given = ''] = token.split('.')
  const expected = Buffer.from(signature(secret, payload))
  const actual = Buffer.from(given)
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Claims
  if (claims.room !== room || !(claims.exp > Date.now() / 1000)) return undefined
  return { userId: claims.userId, name: claims.name }
}

function signature (secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url')
}
