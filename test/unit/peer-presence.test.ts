// docs/protocol.md#presence: a peer hears each change of another peer once, even when the
// store brings the same news twice (with Redis, a session's answer and the partner's 'joined'
// travel on different connections; the instance-frozen test once saw two 'joined').
import t from 'tap'
import WebSocket from 'ws'
import { Peer } from '../../lib/peer.js'
import { RateLimiter } from '../../lib/rate-limiter.js'

/** A peer of a two-party room, with a session (`token`) or not, and the frames sent to it. */
function twoPartyPeer (token: string | undefined): { peer: Peer, sent: unknown[] } {
  const sent: unknown[] = []
  const socket = { readyState: WebSocket.OPEN, bufferedAmount: 0, send: (text: string) => sent.push(JSON.parse(text)) }
  const seat = { roomId: 'r', peerId: 'me', connectionId: 'c', identity: undefined }
  const limits = { limiter: new RateLimiter(10, 10, 0), source: undefined, maxBufferedBytes: 1 << 20 }
  const peer = new Peer(socket as unknown as WebSocket, seat, limits, false, undefined)
  peer.token = token
  return { peer, sent }
}

t.test('the same PRESENCE twice in a row is sent once', async t => {
  const { peer, sent } = twoPartyPeer('token')
  peer.presence('joined', { peerId: 'p2' })
  peer.presence('joined', { peerId: 'p2' })
  peer.presence('reconnecting', { peerId: 'p2' })
  peer.presence('reconnecting', { peerId: 'p2' })
  peer.presence('back', { peerId: 'p2' })
  t.same(sent.map(frame => (frame as { data: { state: string } }).data.state), ['joined', 'reconnecting', 'back'])
})

t.test('each peer is followed on its own', async t => {
  const { peer, sent } = twoPartyPeer('token')
  peer.presence('joined', { peerId: 'p2' })
  peer.presence('joined', { peerId: 'p3' })
  peer.presence('left', { peerId: 'p2' })
  peer.presence('left', { peerId: 'p2' })
  peer.presence('reconnecting', { peerId: 'p3' })
  t.same(sent.map(frame => (frame as { data: { state: string, peer: string } }).data), [
    { state: 'joined', peer: 'p2' }, { state: 'joined', peer: 'p3' }, { state: 'left', peer: 'p2' }, { state: 'reconnecting', peer: 'p3' }
  ])
})

t.test('a two-party peer without a session is told nothing (the original protocol has no PRESENCE)', async t => {
  const { peer, sent } = twoPartyPeer(undefined)
  peer.presence('joined', { peerId: 'p2' })
  t.same(sent, [])
})

t.test('news that comes while a session is asked for is told after the answer, the latest of each peer', async t => {
  const { peer, sent } = twoPartyPeer(undefined)
  peer.holdPresence()
  peer.presence('joined', { peerId: 'p2' })
  peer.presence('reconnecting', { peerId: 'p2' })
  t.same(sent, [], 'nothing before the answer')
  peer.token = 'token'
  sent.push('the answer')
  // The store's answer said the partner was there; the news held says it dropped since.
  peer.presence('joined', { peerId: 'p2' })
  peer.releasePresence()
  t.same(sent, ['the answer', { method: 'PRESENCE', data: { state: 'joined', peer: 'p2' } }, { method: 'PRESENCE', data: { state: 'reconnecting', peer: 'p2' } }])
})

t.test('held news is told once: what the answer said already is not repeated', async t => {
  const { peer, sent } = twoPartyPeer(undefined)
  peer.holdPresence()
  peer.presence('joined', { peerId: 'p2' })
  peer.token = 'token'
  peer.presence('joined', { peerId: 'p2' })
  peer.releasePresence()
  t.same(sent, [{ method: 'PRESENCE', data: { state: 'joined', peer: 'p2' } }])
})

t.test('held news is dropped when no session came of it', async t => {
  const { peer, sent } = twoPartyPeer(undefined)
  peer.holdPresence()
  peer.presence('joined', { peerId: 'p2' })
  peer.releasePresence()
  peer.presence('joined', { peerId: 'p2' })
  t.same(sent, [])
})
