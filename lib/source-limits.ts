import { TokenBucket } from './rate-limiter.js'

/** The frames and bytes per second all connections from one source address share. */
export class SourceBudget {
  /** Connections from this source holding the budget. */
  holders = 0
  private readonly frames: TokenBucket | undefined
  private readonly bytes: TokenBucket | undefined

  constructor (readonly address: string, frameRate: number, byteRate: number, now: number) {
    // A budget holds a few seconds' worth: a page's burst of ICE candidates passes.
    this.frames = frameRate > 0 ? new TokenBucket(frameRate, frameRate * burstSeconds, now) : undefined
    this.bytes = byteRate > 0 ? new TokenBucket(byteRate, byteRate * burstSeconds, now) : undefined
  }

  /**
   * Takes one frame of `bytes` from the budget.
   * @returns whether the source is within its budget
   */
  take (now: number, bytes: number): boolean {
    if (this.frames !== undefined && !this.frames.take(now)) return false
    return this.bytes === undefined || this.bytes.take(now, bytes)
  }

  /**
   * How long until the budget has room for a frame of `bytes` from each of the source's
   * connections: the fair wait for one of them, when they all send.
   */
  msUntil (now: number, bytes: number): number {
    return Math.max(this.frames?.msUntil(now, this.holders) ?? 0, this.bytes?.msUntil(now, bytes * this.holders) ?? 0)
  }
}

const burstSeconds = 4

/**
 * Budgets per source address (the client's IP as Fastify sees it, so behind a proxy with
 * `trustProxy` the address the proxy forwards), so that many connections from one place cannot
 * take more than one place's share of the CPU.
 */
export class SourceLimits {
  private readonly budgets = new Map<string, SourceBudget>()

  /**
   * @param frameRate frames per second per source; 0 for no limit
   * @param byteRate bytes per second per source; 0 for no limit
   */
  constructor (private readonly frameRate: number, private readonly byteRate: number) {}

  /** The budget of `address`, for one more connection; undefined when sources are not limited. */
  acquire (address: string, now: number): SourceBudget | undefined {
    if (this.frameRate === 0 && this.byteRate === 0) return undefined
    let budget = this.budgets.get(address)
    if (budget === undefined) {
      budget = new SourceBudget(address, this.frameRate, this.byteRate, now)
      this.budgets.set(address, budget)
    }
    budget.holders++
    return budget
  }

  /**
   * Lets go of a budget taken by `acquire`. A source without connections is forgotten once its
   * budget would be full again anyway, so reconnecting does not refill it sooner.
   */
  release (budget: SourceBudget | undefined): void {
    if (budget === undefined || --budget.holders > 0) return
    setTimeout(() => {
      if (budget.holders === 0 && this.budgets.get(budget.address) === budget) this.budgets.delete(budget.address)
    }, burstSeconds * 1000).unref()
  }
}
