// How the load generator speaks to each kind of server: where a peer connects, the frame it
// sends (exactly the size asked, whatever the protocol, so that CPU per relayed message
// compares like with like) and what it expects to receive.
import { expecting, maskedFrame, notifyText, offerText } from './rawws.js'

/**
 * @typedef {object} Protocol
 * @property {(prefix: string, room: number, seat: number) => string} path the peer's URL path
 * @property {(room: number, seat: number) => Buffer|null} frame the masked frame it sends
 * @property {(room: number, seat: number) => import('./rawws.js').Expect} expect what it receives
 */

/**
 * This project's protocol: rooms at `/call/<id>`, NOTIFY frames. In rooms of two a relayed
 * frame is the very bytes sent; in a group room it starts with the server's `"from"` member
 * (so it is longer), and the server tells of the room (ROOM) and of the peers that come and go
 * (PRESENCE).
 * @param {{bytes: number, size: number, roomPrefix: string}} spec bytes 0: a peer that sends nothing
 * @returns {Protocol}
 */
function notify ({ bytes, size, roomPrefix }) {
  if (size === 2) return relay({ bytes, size, roomPrefix })
  return rooms(bytes, roomPrefix, expecting({ relayed: '{"from":', notices: ['{"method":"ROOM"', '{"method":"PRESENCE"'] }))
}

/**
 * The bare relays' (bench/baseline-relay.js): the same rooms and frames as the project's, every
 * frame delivered as the very bytes sent, whatever the room's size, and no notices.
 * @param {{bytes: number, size: number, roomPrefix: string}} spec
 * @returns {Protocol}
 */
function relay ({ bytes, roomPrefix }) {
  return rooms(bytes, roomPrefix, expecting({ relayed: '{"method":"NOTIFY"', length: bytes > 0 ? bytes : -1 }))
}

function rooms (bytes, roomPrefix, expect) {
  const frame = bytes > 0 ? maskedFrame(notifyText(bytes)) : null
  return {
    path: (prefix, room) => `${prefix}/call/${roomPrefix}-${room}`,
    frame: () => frame,
    expect: () => expect
  }
}

/**
 * PeerJS's protocol (from the `peer` package's source): no rooms, every client has an id and
 * addresses another by it. A "room" is two clients, `<prefix>-<room>-0` and `-1`, each sending
 * `{"type":"OFFER","dst":"<the other>","payload":{"type":"offer","sdp":"..."}}`. The server
 * greets each client with `{"type":"OPEN"}` and relays
 * `JSON.stringify({type, src, dst, payload})`: longer than what was sent, by its `"src"`.
 * @param {{bytes: number, size: number, roomPrefix: string}} spec
 * @returns {Protocol}
 */
function peerjs ({ bytes, size, roomPrefix }) {
  if (size !== 2) throw new Error('PeerJS has no rooms: the bench drives it with pairs only')
  const id = (room, seat) => `${roomPrefix}-${room}-${seat}`
  const textTo = (room, seat) => offerText(bytes, `{"type":"OFFER","dst":"${id(room, seat)}","payload":{"type":"offer","sdp":"`, '"}}')
  return {
    path: (prefix, room, seat) => `${prefix}/peerjs?key=peerjs&id=${id(room, seat)}&token=bench`,
    frame: (room, seat) => bytes > 0 ? maskedFrame(textTo(room, seat ^ 1)) : null,
    expect: (room, seat) => {
      let length = -1
      if (bytes > 0) {
        // What PeerJS's transmission handler makes of the frame the other peer sends this one.
        const { type, dst, payload } = JSON.parse(textTo(room, seat))
        length = Buffer.byteLength(JSON.stringify({ type, src: id(room, seat ^ 1), dst, payload }))
      }
      return expecting({ relayed: '{"type":"OFFER"', length, notices: ['{"type":"OPEN"}'] })
    }
  }
}

export const protocols = { notify, relay, peerjs }
