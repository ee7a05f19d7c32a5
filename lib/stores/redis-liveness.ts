/**
 * Deciding that another instance sharing the Redis is dead, so that its seats may be reclaimed.
 *
 * Each instance bumps a marker in Redis a few times per liveness period. Another instance is
 * judged dead when its marker did not change during a full liveness period in which the judge
 * itself talked to Redis without a hitch. Markers never expire on their own: when Redis stalls,
 * every instance stalls with it, and what the judge saw before or during the stall vouches for
 * nobody's death; the judge starts watching again once Redis answers promptly.
 */

/** The marker a closing instance leaves when it still has seats: reclaim them at once. */
export const goneMarker = 'gone'

/** What the judge last saw of an instance. */
interface Sighting {
  marker: string | null
  /** When the marker was first seen with this value (monotonic ms). */
  since: number
}

/** An instance judged dead, and the marker it was judged by. */
export interface Verdict {
  id: string
  marker: string | null
}

/** Watches the other instances' markers and says which are dead. Times are monotonic milliseconds. */
export class LivenessJudge {
  private readonly sightings = new Map<string, Sighting>()
  private trustedSince: number

  /**
   * @param livenessMs how long a marker must stay unchanged, under watch, for its instance to be dead
   * @param now when watching begins
   */
  constructor (private readonly livenessMs: number, now: number) {
    this.trustedSince = now
  }

  /**
   * Says that this instance could not rely on Redis until `now` (a command timed out or was
   * slow, the connection dropped): an unchanged marker counts only from then on.
   */
  distrust (now: number): void {
    this.trustedSince = now
  }

  /**
   * Records the markers read at `now` (null: none) and returns the instances judged dead: those
   * whose marker is `goneMarker`, and those whose marker stayed the same for a full liveness
   * period of trusted watching. Instances not listed are forgotten.
   */
  observe (ids: readonly string[], markers: ReadonlyArray<string | null>, now: number): Verdict[] {
    const dead: Verdict[] = []
    const listed = new Set(ids)
    for (const id of this.sightings.keys()) if (!listed.has(id)) this.sightings.delete(id)
    ids.forEach((id, i) => {
      const marker = markers[i] ?? null
      const seen = this.sightings.get(id)
      if (seen === undefined || seen.marker !== marker) {
        this.sightings.set(id, { marker, since: now })
        if (marker === goneMarker) dead.push({ id, marker })
      } else if (marker === goneMarker || now - Math.max(seen.since, this.trustedSince) >= this.livenessMs) {
        dead.push({ id, marker })
      }
    })
    return dead
  }
}
