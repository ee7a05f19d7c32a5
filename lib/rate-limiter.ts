/** What a rate limiter says of one frame. */
export type RateDecision = 'allowed' | 'limited' | 'abusive'

/**
 * A token bucket per connection: `rate` frames a second sustained, bursts of `burst`.
 * A client that keeps sending over the limit (more than `burst` refused frames without a
 * pause of a second) is abusive, and its connection is closed.
 */
export class RateLimiter {
  private tokens: number
  private refilledAt: number
  private refused = 0
  private refusedAt = 0

  /**
   * @param rate frames per second, sustained
   * @param burst the bucket's size: frames that may arrive at once
   * @param now the current time in milliseconds
   */
  constructor (private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst
    this.refilledAt = now
  }

  /**
   * Takes a token for one frame.
   * @param now the current time in milliseconds
   */
  take (now: number): RateDecision {
    const tokens = this.tokens + (now - this.refilledAt) * this.rate / 1000
    this.tokens = tokens < this.burst ? tokens : this.burst
    this.refilledAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 'allowed'
    }
    if (now - this.refusedAt > 1000) this.refused = 0
    this.refused++
    this.refusedAt = now
    return this.refused > this.burst ? 'abusive' : 'limited'
  }
}
