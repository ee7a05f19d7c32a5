/**
 * The Redis room store, for several instances behind one load balancer:
 * `import { redisStore } from 'fastify-rtc-notify/redis'`. It needs the `ioredis` package (an
 * optional peer dependency of this one), so it has an entry of its own: apps on the memory
 * store never load it.
 */
export { RedisStore, redisStore, type RedisStoreOptions } from './stores/redis.js'
export * as redisErrors from './stores/redis-errors.js'
