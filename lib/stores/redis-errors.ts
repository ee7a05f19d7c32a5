import createError from '@fastify/error'

/** `start` could not connect to Redis in time; the message names the last connection error. */
export const RedisUnreachableError = createError<[string, { cause: unknown }?]>(
  'FST_RTC_NOTIFY_REDIS_UNREACHABLE', 'cannot use Redis: %s', 503)

/**
 * Redis does not answer (a command timed out, the connection is down, or the store is
 * recovering): a frame or a join is refused at once rather than left waiting. Raised on every
 * frame while Redis is away, so without a stack trace.
 */
export const RedisUnavailableError = createError(
  'FST_RTC_NOTIFY_REDIS_UNAVAILABLE', 'Redis is not answering', 503, Error, false)

/** Sending this frame would put more than `maxInFlightBytes` in flight to Redis. */
export const RedisBacklogError = createError<[number]>(
  'FST_RTC_NOTIFY_REDIS_BACKLOG', 'too many bytes waiting for Redis (maxInFlightBytes is %d)', 503, Error, false)
