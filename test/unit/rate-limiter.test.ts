// docs/protocol.md#limits: the token buckets behind the rate limits.
import t from 'tap'
import { RateLimiter, TokenBucket } from '../../lib/rate-limiter.js'
import { SourceLimits } from '../../lib/source-limits.js'

t.test('a bucket gives its burst at once, then its rate', async t => {
  const bucket = new TokenBucket(10, 3, 0)
  t.same([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)], [true, true, true, false])
  t.equal(bucket.take(100), true, 'one token a tenth of a second later')
  t.equal(bucket.take(100), false)
  t.equal(bucket.take(10_000, 3), true, 'never more than the burst saved up')
  t.equal(bucket.take(10_000, 1), false)
})

t.test('a connection that keeps sending over its limit becomes abusive', async t => {
  const limiter = new RateLimiter(1, 2, 0)
  t.same([limiter.take(0), limiter.take(0), limiter.take(0), limiter.take(0)], ['allowed', 'allowed', 'limited', 'limited'])
  t.equal(limiter.take(0), 'abusive', 'more than a burst of refusals without a pause')
  const patient = new RateLimiter(1, 2, 0)
  patient.take(0)
  patient.take(0)
  t.equal(patient.take(0), 'limited')
  t.equal(patient.take(2000), 'allowed', 'a pause refills and forgives')
  t.equal(new RateLimiter(1, 1, 0).refuse(0), 'limited', 'a refusal by another limit counts too')
})

t.test('connections from one address share one budget, which outlives them for its refill time', async t => {
  const sources = new SourceLimits(10, 0)
  const a = sources.acquire('10.0.0.1', 0)!
  const b = sources.acquire('10.0.0.1', 0)!
  t.equal(a, b, 'the same budget')
  let taken = 0
  while (a.take(0, 100)) taken++
  t.equal(taken, 40, 'four seconds\' worth')
  t.equal(b.take(0, 1), false)
  t.not(sources.acquire('10.0.0.2', 0), a, 'another address, another budget')
  sources.release(a)
  sources.release(b)
  t.equal(sources.acquire('10.0.0.1', 0), a, 'a source that reconnects at once finds its spent budget')
  t.equal(new SourceLimits(0, 0).acquire('x', 0), undefined, 'no budgets when both limits are off')
})
