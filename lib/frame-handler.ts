import type { Peer } from './peer.js'
import {
  Failure, failedReply, readFrame, recipientOf, relayedFrame, type FailureReason, type GetRequest, type InboundFrame
} from './protocol.js'
import type { Frame } from './stores/store.js'
import { CloseCode } from './wire.js'

/** The part of a pino logger the room manager and its parts use. */
export interface ManagerLog {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
  isLevelEnabled?: (level: string) => boolean
}

/** Counters the manager reports to, if metrics are on. */
export interface ManagerMetrics {
  relayed (): void
  queued (): void
  frameRejected (reason: FailureReason): void
}

/** Told of every frame answered `failed`, with the peer that sent it. */
export type RefusalListener = (peer: Peer, reason: FailureReason) => void

/** What the frame handler needs. */
export interface FrameHandlerOptions {
  /** Bytes in one frame the server relays; a larger frame is answered `failed`. */
  maxPayload: number
  /** Bytes in one frame at which the connection is closed (1009). */
  hardMaxPayload: number
  /** Frames a connection may send before the store has bound it. */
  maxBacklog: number
  log: ManagerLog
  metrics: ManagerMetrics | undefined
  /** Told of each refusal (the `message:refused` event), when anyone listens. */
  refused?: RefusalListener
  /** Hands a valid NOTIFY on, as the bytes to send, to one peer (`to`) or every other one. */
  relay (peer: Peer, frame: Frame, to: string | undefined, bytes: number, inbound: InboundFrame): void
  /** Answers a valid GET. */
  answer (peer: Peer, request: GetRequest): void
  /** Whether the room store answers now: a frame that failed while it does not is refused as `store_unavailable`. */
  storeAvailable (): boolean
}

/**
 * The way in for every frame a peer sends (the hot path): rate limits, size, parsing and
 * validation; a valid frame goes to the manager, anything else is answered `failed` here.
 */
export class FrameHandler {
  private readonly logFrames: boolean
  private failureLoggedAt = 0
  private failuresSuppressed = 0

  constructor (private readonly options: FrameHandlerOptions) {
    this.logFrames = options.log.isLevelEnabled?.('debug') ?? false
  }

  /** Handles one frame from `peer`. */
  receive (peer: Peer, data: Buffer, isBinary: boolean): void {
    if (peer.ending !== undefined) return
    if (peer.backlog !== undefined) return this.hold(peer, data, isBinary)
    const o = this.options
    const now = Date.now()
    const { limiter, source } = peer.limits
    let verdict = limiter.take(now)
    if (verdict === 'allowed' && source !== undefined && !source.take(now, data.length)) {
      verdict = limiter.refuse(now)
      // Reading, parsing and refusing each frame of a flood costs as much CPU as relaying it:
      // this connection is not read until its source's budget has room again, and TCP holds
      // the sender back meanwhile.
      peer.holdReading(source.msUntil(now, data.length))
    }
    if (verdict === 'abusive') return peer.close(CloseCode.PolicyViolation, 'rate limit exceeded', 'refused')
    if (isBinary) return this.reject(peer, verdict === 'allowed' ? Failure.BinaryFrame : Failure.RateLimited)
    // ws enforces the hard limit itself when it was configured with ours; an app that registered
    // @fastify/websocket with a larger limit gets the same answer here.
    if (data.length > o.hardMaxPayload) return peer.close(CloseCode.TooBig, 'frame too large', 'refused')
    // Not parsed: answered without its msg_id, for the cost of a refusal, not of a parse.
    if (data.length > o.maxPayload) return this.reject(peer, verdict === 'allowed' ? Failure.TooLarge : Failure.RateLimited)
    const inbound = readFrame(data.toString())
    // A limited frame is still parsed, to echo its msg_id: the client may be waiting on it.
    // (A client that keeps it up is closed as abusive, which bounds that work.)
    if (verdict === 'limited') return this.reject(peer, Failure.RateLimited, inbound)
    if (inbound.kind === 'refused') return this.reject(peer, inbound.failure, inbound)
    if (this.logFrames) o.log.debug({ room: peer.roomId, kind: inbound.kind, bytes: data.length }, 'frame')
    if (inbound.kind === 'get') return o.answer(peer, inbound)
    // In a group room a NOTIFY says who sent it, and may name whom it is for.
    const group = peer.inGroup
    const to = group ? recipientOf(inbound.frame) : undefined
    if (typeof to === 'object') return this.reject(peer, to, inbound)
    const frame = relayedFrame(data, inbound, group ? peer.peerId : undefined)
    if (typeof frame === 'string' || Buffer.isBuffer(frame)) o.relay(peer, frame, to, data.length, inbound)
    else this.reject(peer, frame, inbound)
  }

  /** Handles the frames that arrived while the store bound the connection, in order. */
  attached (peer: Peer): void {
    const backlog = peer.backlog
    peer.backlog = undefined
    if (backlog !== undefined) for (const [data, isBinary] of backlog) this.receive(peer, data, isBinary)
  }

  /**
   * Answers `failed`.
   * @param about the frame refused, to echo its msg_id
   */
  reject (peer: Peer, failure: FailureReason, about?: InboundFrame): void {
    this.options.metrics?.frameRejected(failure)
    this.options.refused?.(peer, failure)
    peer.send(failedReply(failure, about))
  }

  /**
   * Answers `failed` for a frame the server failed to handle: `store_unavailable` while the
   * store does not answer (the client may try again later), `internal` otherwise. Logged one
   * line a second at most, since with the store unreachable every frame of every peer fails.
   */
  failed (peer: Peer, err: unknown, about?: InboundFrame): void {
    // A store's error with status 503 says it cannot take this now (e.g. too much waits for Redis).
    const storeDown = !this.options.storeAvailable() || (err as { statusCode?: unknown } | undefined)?.statusCode === 503
    const now = Date.now()
    if (now - this.failureLoggedAt >= 1000) {
      const fields = { err, room: peer.roomId, suppressed: this.failuresSuppressed }
      // The store logs when it stops answering: a frame refused meanwhile is expected.
      if (storeDown) this.options.log.warn(fields, 'frame refused: the room store does not answer')
      else this.options.log.error(fields, 'failed to handle a frame')
      this.failureLoggedAt = now
      this.failuresSuppressed = 0
    } else {
      this.failuresSuppressed++
    }
    this.reject(peer, storeDown ? Failure.StoreUnavailable : Failure.Internal, about)
  }

  // Frames that arrive while the store binds the connection wait for it: what was queued for
  // the peer must reach it before anything else, the answers to its own first requests too.
  private hold (peer: Peer, data: Buffer, isBinary: boolean): void {
    const backlog = peer.backlog!
    if (backlog.length >= this.options.maxBacklog) {
      peer.close(CloseCode.PolicyViolation, 'rate limit exceeded', 'refused')
      return
    }
    backlog.push([data, isBinary])
  }
}
