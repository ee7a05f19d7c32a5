import { createHmac } from 'node:crypto'
import type { HandshakeRequest, IceServer, IceServersOption, TurnOptions } from './options.js'

/** TURN credentials live a day unless `turn.ttl` says otherwise. */
export const defaultTurnTtl = 86400

/**
 * TURN REST API credentials, the scheme coturn checks with `use-auth-secret`: the username is
 * `<expiry as unix seconds>:<peer id>`, the credential base64(HMAC-SHA1(secret, username)).
 * The first secret signs; the others exist so that a TURN server can accept both during a
 * rotation.
 * @param turn the TURN options
 * @param peerId who the credentials are for
 * @param now the current time in milliseconds
 */
export function turnCredentials (turn: TurnOptions, peerId: string, now: number): IceServer {
  const expiry = Math.floor(now / 1000) + (turn.ttl ?? defaultTurnTtl)
  const username = `${expiry}:${peerId}`
  // A list has at least one (the options' schema says so): the first signs.
  const secret = Array.isArray(turn.secret) ? turn.secret[0]! : turn.secret
  const credential = createHmac('sha1', secret).update(username).digest('base64')
  return { urls: turn.urls, username, credential }
}

/** Where a peer's ICE servers come from: the handshake request, its room, its peer id. */
export type IceServersFor = (request: HandshakeRequest | undefined, roomId: string, peerId: string) =>
  IceServer[] | Promise<IceServer[]>

/**
 * Builds the function answering a peer's ICE servers: the configured list or the result of
 * the configured function, plus fresh TURN credentials when `turn` is set.
 */
export function iceServersResolver (iceServers: IceServersOption, turn: TurnOptions | undefined): IceServersFor {
  if (typeof iceServers !== 'function') {
    if (turn === undefined) return () => iceServers
    return (_request, _roomId, peerId) => [...iceServers, turnCredentials(turn, peerId, Date.now())]
  }
  return async (request, roomId, peerId) => {
    // The function's request is the handshake; it is only kept for peers when it is needed.
    const servers = await iceServers(request as HandshakeRequest, roomId)
    return turn === undefined ? servers : [...servers, turnCredentials(turn, peerId, Date.now())]
  }
}
