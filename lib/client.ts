/**
 * The browser client, dependency-free; the plugin serves it at `{prefix}/client.js` with
 * `serveClient` (the standalone server at /client.js).
 *
 * - `joinCall()` makes a WebRTC call in a room: one peer connection per remote peer, their
 *   media as events (client-call.ts);
 * - `connect()` is the signaling client under it, for apps that run their own peer
 *   connections (client-notify.ts).
 *
 * ```js
 * import { joinCall } from '/client.js'
 * const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
 * const call = await joinCall({ roomId: 'abc', stream })
 * call.on('peer', ({ peerId, stream }) => show(peerId, stream))
 * call.on('peer-left', ({ peerId }) => hide(peerId))
 * ```
 */

export * from './client-notify.js'
export { Call, joinCall, type CallEventMap, type JoinCallOptions } from './client-call.js'
export type { RemotePeer } from './client-peer.js'
