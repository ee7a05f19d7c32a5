/**
 * One remote peer of a call: the RTCPeerConnection to it, negotiated with the "perfect
 * negotiation" pattern, so that either side may start a negotiation (when a track is added,
 * for an ICE restart) and two offers that cross are settled without a lost call: the polite
 * side gives way, the impolite one drops the other's offer.
 *
 * Crossed offers are still avoided where they are foreseeable: the impolite side leads the
 * negotiations both sides would otherwise start at the same moment, the first one and the ICE
 * restarts after a network change; the polite side answers them. (Chromium, when a first
 * offer is rolled back before it gathered a candidate, may never gather for the answer.)
 * The call (client-call.ts) carries the signals over the signaling client.
 *
 * Signals travel in the shapes of the original protocol's pages, so a page written for the
 * seed's server can be the other side of a two-party call: a session description is
 * `{ type: 'offer' | 'answer', sdp }`, an ICE candidate is `RTCIceCandidateInit`.
 */

/** What the call does for its peers. */
export interface PeerOwner {
  /** Sends a signal (a description or a candidate) to this peer. */
  signal (peer: RemotePeer, data: RTCSessionDescriptionInit | RTCIceCandidateInit): void
  /** The peer connection's state, or the peer's presence, changed. */
  changed (peer: RemotePeer): void
  /** Negotiating with this peer went wrong (the call goes on). */
  failed (peer: RemotePeer, error: unknown): void
}

/** What a peer connection is made of. */
export interface PeerSetup {
  /** The RTCPeerConnection configuration (the server's ICE servers). */
  configuration: RTCConfiguration
  /** The local media to send; without it, the peer connection only receives audio and video. */
  stream: MediaStream | undefined
}

/** Whether a signal is a session description. */
export function isDescription (data: unknown): data is RTCSessionDescriptionInit {
  const type = (data as { type?: unknown } | null)?.type
  return (type === 'offer' || type === 'answer') && typeof (data as { sdp?: unknown }).sdp === 'string'
}

/** Whether a signal is an ICE candidate. */
export function isCandidate (data: unknown): data is RTCIceCandidateInit {
  return typeof (data as { candidate?: unknown } | null)?.candidate === 'string'
}

/**
 * A remote peer of a call: its id, its media, the connection to it. The call makes and ends
 * these; an app reads them (`call.peers`, and the detail of the call's `peer` events).
 */
export class RemotePeer {
  /** The remote peer's media: its tracks join this stream as they arrive. */
  readonly stream = new MediaStream()
  /** The connection to it; adding a track to it renegotiates by itself. */
  readonly connection: RTCPeerConnection
  private offering = false
  // Set when, being impolite, this side dropped an offer that crossed its own: the candidates
  // that follow that offer cannot be added, and that is no error.
  private droppingOffer = false
  private restartPending = false
  // Whether a remote description was ever set: until then a polite side waits for the offer.
  private negotiated = false
  private restarts = 0
  private isAway = false
  private closed = false
  private inbox: Promise<void> = Promise.resolve()

  /**
   * @param peerId the remote peer's id
   * @param polite whether this side gives way when two offers cross, and waits for the other
   *   side's first offer and ICE restarts (exactly one side of a pair is polite: the call
   *   decides by comparing the two peer ids)
   * @param identity what the server said about the remote peer (`shareIdentity`)
   * @param setup the configuration and the local media
   * @param owner the call
   */
  constructor (
    readonly peerId: string,
    readonly polite: boolean,
    readonly identity: unknown,
    setup: PeerSetup,
    private readonly owner: PeerOwner
  ) {
    const pc = this.connection = new RTCPeerConnection(setup.configuration)
    if (setup.stream !== undefined) {
      for (const track of setup.stream.getTracks()) pc.addTrack(track, setup.stream)
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' })
      pc.addTransceiver('video', { direction: 'recvonly' })
    }
    pc.onnegotiationneeded = () => { void this.offer() }
    pc.onicecandidate = ({ candidate }) => {
      // The end of candidates (null, or an empty candidate) is not sent: seed pages never did.
      if (candidate !== null && candidate.candidate !== '') this.owner.signal(this, candidate.toJSON())
    }
    pc.ontrack = ({ track }) => {
      this.stream.addTrack(track)
      track.addEventListener('ended', () => this.stream.removeTrack(track))
    }
    pc.onconnectionstatechange = () => this.owner.changed(this)
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState
      if (state === 'connected' || state === 'completed') this.restartPending = false
      // A failed transport does not come back by itself: start over with fresh credentials.
      if (state === 'failed' && !this.polite) this.restartIce()
      this.owner.changed(this)
    }
  }

  /** Whether the remote peer's signaling connection is down (it may come back: its seat is held). */
  get away (): boolean {
    return this.isAway
  }

  /** How many ICE restarts this side started on this connection. */
  get iceRestarts (): number {
    return this.restarts
  }

  /**
   * Handles a signal from the remote peer. Signals are handled one at a time, in order.
   * @param data a description or a candidate (anything else is ignored)
   */
  receive (data: unknown): void {
    this.inbox = this.inbox
      .then(() => this.handle(data))
      .catch(error => { if (!this.closed) this.owner.failed(this, error) })
  }

  /** Marks the remote peer away (its signaling dropped) or back. */
  setAway (away: boolean): void {
    if (this.isAway === away) return
    this.isAway = away
    this.owner.changed(this)
  }

  /**
   * Called when signaling works again between the two sides (this side resumed, or the remote
   * peer came back): an offer whose answer may have been lost is sent again, and a media path
   * that broke meanwhile (ICE `disconnected` or `failed`) is restarted, by the impolite side
   * (the polite one answers its offer).
   */
  recover (): void {
    if (this.closed) return
    const pc = this.connection
    if (pc.signalingState === 'have-local-offer' && !this.offering && pc.localDescription !== null) {
      this.owner.signal(this, pc.localDescription.toJSON())
    }
    const ice = pc.iceConnectionState
    if ((ice === 'disconnected' || ice === 'failed') && !this.polite && !this.restartPending) this.restartIce()
  }

  /** Restarts ICE: a new offer with fresh credentials, so that the two sides find a new path. */
  restartIce (): void {
    if (this.closed) return
    this.restarts++
    this.restartPending = true
    this.connection.restartIce()
  }

  /** Closes the connection; the remote peer's tracks end. */
  close (): void {
    this.closed = true
    this.connection.close()
  }

  private async offer (): Promise<void> {
    // The answer to the other side's first offer will carry this side's tracks.
    if (this.closed || (this.polite && !this.negotiated)) return
    const pc = this.connection
    try {
      this.offering = true
      // Without arguments it makes the right description for the state it finds.
      await pc.setLocalDescription()
      this.owner.signal(this, pc.localDescription!.toJSON())
    } catch (error) {
      if (!this.closed) this.owner.failed(this, error)
    } finally {
      this.offering = false
    }
  }

  private async handle (data: unknown): Promise<void> {
    if (this.closed) return
    const pc = this.connection
    if (isDescription(data)) {
      // An answer in a stable state answers an offer sent twice (see recover): already done.
      if (data.type === 'answer' && pc.signalingState === 'stable') return
      const crossed = data.type === 'offer' && (this.offering || pc.signalingState !== 'stable')
      this.droppingOffer = crossed && !this.polite
      if (this.droppingOffer) return
      // A polite side whose own offer crossed this one: setting it rolls ours back.
      await pc.setRemoteDescription(data)
      this.negotiated = true
      if (data.type === 'offer') {
        await pc.setLocalDescription()
        this.owner.signal(this, pc.localDescription!.toJSON())
      }
    } else if (isCandidate(data)) {
      try {
        await pc.addIceCandidate(data)
      } catch (error) {
        if (!this.droppingOffer) throw error
      }
    }
  }
}
