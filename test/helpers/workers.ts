import { execFileSync } from 'node:child_process'
import { get } from 'node:http'
import { roomSlot } from '../../lib/room-router.js'
import { workerHeader } from '../../lib/routed-connections.js'

/** The pids of a process's children (the workers of a --workers primary). */
export function children (pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return [] // ps exits 1 when there are none
  }
}

/** Whether a process is alive. */
export function running (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** What one worker answers at GET /health: its slot (the x-rtc-notify-worker header), rooms and peers. */
export interface WorkerHealth { slot: number, status: number, rooms: number, peers: number }

/** GET /health over a connection of its own, so that the primary hands it to the next worker in turn. */
export async function workerHealth (url: string): Promise<WorkerHealth> {
  return await new Promise((resolve, reject) => {
    get(url + 'health', { agent: false }, response => {
      let body = ''
      response.on('data', chunk => { body += String(chunk) })
      response.on('end', () => {
        const { rooms, peers } = JSON.parse(body) as { rooms: number, peers: number }
        resolve({ slot: Number(response.headers[workerHeader]), status: response.statusCode ?? 0, rooms, peers })
      })
    }).on('error', reject)
  })
}

/** The health of every worker, by slot, asking until each of the `slots` has answered. */
export async function everyWorkerHealth (url: string, slots: number): Promise<WorkerHealth[]> {
  const bySlot = new Map<number, WorkerHealth>()
  for (let asked = 0; bySlot.size < slots; asked++) {
    if (asked === 10 * slots) throw new Error(`only slots ${[...bySlot.keys()].join(', ')} answered`)
    const health = await workerHealth(url)
    bySlot.set(health.slot, health)
  }
  return [...bySlot.values()].sort((a, b) => a.slot - b.slot)
}

let rooms = 0
/** A room id no other test uses, whose worker (of `slots`) is the one in `slot`. */
export function roomOfSlot (slot: number, slots = 2): string {
  for (;;) {
    const id = `slot${slot}-${process.pid}-${++rooms}`
    if (roomSlot(id, slots) === slot) return id
  }
}
