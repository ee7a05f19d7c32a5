/** What a rate limiter says of one frame. */
export type RateDecision = 'allowed' | 'limited' | 'abusive'

/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up.
 */
export class TokenBucket {
  private tokens: number
  private refilledAt: number

  /**
   * @param rate tokens per second, sustained
   * @param burst the bucket's size
   * @param now the current time in milliseconds
   */
  constructor (private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst
    this.refilledAt = now
  }

  /**
   * Takes `cost` tokens if the bucket has them.
   * @param now the current time in milliseconds
   * @returns whether they were taken
   */
  take (now: number, cost = 1): boolean {
    this.refill(now)
    if (this.tokens < cost) return false
    this.tokens -= cost
    return true
  }

  /**
   * How long until the bucket holds `cost` tokens.
   * @param now the current time in milliseconds
   */
  msUntil (now: number, cost = 1): number {
    this.refill(now)
    return this.tokens >= cost ? 0 : (cost - this.tokens) * 1000 / this.rate
  }

  // What came in since the last look, up to the bucket's size.
  private refill (now: number): void {
    const tokens = this.tokens + (now - this.refilledAt) * this.rate / 1000
    this.tokens = tokens < this.burst ? tokens : this.burst
    this.refilledAt = now
  }
}

/**
 * The frame limit of one connection: a token bucket of `rate` frames a second, bursts of
 * `burst`. A client that keeps sending over a limit (more than `burst` refused frames without
 * a pause of a second) is abusive, and its connection is closed.
 */
export class RateLimiter {
  private readonly bucket: TokenBucket
  private refused = 0
  private refusedAt = 0

  /**
   * @param rate frames per second, sustained
   * @param burst frames that may arrive at once
   * @param now the current time in milliseconds
   */
  constructor (rate: number, private readonly burst: number, now: number) {
    this.bucket = new TokenBucket(rate, burst, now)
  }

  /**
   * Takes a token for one frame.
   * @param now the current time in milliseconds
   */
  take (now: number): RateDecision {
    return this.bucket.take(now) ? 'allowed' : this.refuse(now)
  }

  /**
   * Counts a frame refused by another limit (its source's), towards calling this connection abusive.
   * @param now the current time in milliseconds
   */
  refuse (now: number): 'limited' | 'abusive' {
    if (now - this.refusedAt > 1000) this.refused = 0
    this.refused++
    this.refusedAt = now
    return this.refused > this.burst ? 'abusive' : 'limited'
  }
}
