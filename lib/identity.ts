import { BadIdentityError } from './errors.js'

/** The most JSON an identity may take. */
export const maxIdentityBytes = 4096

/**
 * The identity `authorize` returned, as the JSON text kept with the seat: its members sorted,
 * so that the same identity built in another order is the same text (a resume compares them).
 * @returns undefined for `true` (no identity)
 * @throws BadIdentityError when it is not JSON-serializable or over 4 KiB
 */
export function identityText (identity: Record<string, unknown> | true): string | undefined {
  if (identity === true) return undefined
  let text
  try {
    text = JSON.stringify(identity, sortedMembers)
  } catch (err) {
    throw new BadIdentityError((err as Error).message)
  }
  if (Buffer.byteLength(text) > maxIdentityBytes) throw new BadIdentityError(`more than ${maxIdentityBytes} bytes of JSON`)
  return text
}

function sortedMembers (_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const sorted: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key]
  return sorted
}
