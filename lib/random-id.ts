import { randomFillSync } from 'node:crypto'

// Ids come from a pool of CSPRNG bytes refilled 4 KiB at a time: one randomBytes call per id
// cost more than the rest of a join's bookkeeping. (crypto.randomUUID pools the same way.)
const pool = Buffer.allocUnsafe(4096)
let used = pool.length

/**
 * A fresh unguessable id.
 * @param bytes how many random bytes it carries
 * @returns those bytes, base64url
 */
export function randomId (bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  const id = pool.toString('base64url', used, used + bytes)
  used += bytes
  return id
}
