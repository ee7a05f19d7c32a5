// What the bench reads of other processes, from /proc (Linux): CPU time and resident memory.
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
export function clockTicks () {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    if (Number.isFinite(n) && n > 0) return n
  } catch {}
  return 100
}

/**
 * CPU time of a process (all its threads: JS, GC helpers, libuv pool) in clock ticks:
 * utime + stime from /proc/<pid>/stat.
 */
export function cpuTicks (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12])
}

/** User and system CPU time of a process in clock ticks: [utime, stime]. */
export function cpuTicksSplit (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return [Number(fields[11]), Number(fields[12])]
}

/** Summed CPU ticks of several processes. */
export function cpuTicksOf (pids) {
  let sum = 0
  for (const pid of pids) sum += cpuTicks(pid)
  return sum
}

/** Resident set size of a process in KiB (VmRSS of /proc/<pid>/status). */
export function rssKiB (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1')
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1])
}

/** Summed RSS of several processes in KiB. */
export function rssKiBOf (pids) {
  let sum = 0
  for (const pid of pids) sum += rssKiB(pid)
  return sum
}

/** The open-files limit of a process: { soft, hard } (Infinity for unlimited). */
export function nofileLimit (pid = 'self') {
  const limits = readFileSync(`/proc/${pid}/limits`, 'latin1')
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits)
  if (m === null) return { soft: NaN, hard: NaN }
  const num = s => s === 'unlimited' ? Infinity : Number(s)
  return { soft: num(m[1]), hard: num(m[2]) }
}

/**
 * Makes sure this process (and so every child it starts afterwards) may open `needed` files,
 * raising the soft limit, and the hard one when allowed (root), with prlimit(1).
 * @returns {{before: object, after: object, raised: boolean, note: string}}
 */
export function ensureNofile (needed) {
  const before = nofileLimit()
  if (before.soft >= needed) {
    return { before, after: before, raised: false, note: `open-files limit ${before.soft} >= ${needed} needed: left as it is` }
  }
  const hard = Math.max(before.hard, needed)
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`], { stdio: 'ignore' })
  } catch (err) {
    const after = nofileLimit()
    return { before, after, raised: false, note: `could not raise the open-files limit to ${needed} (${err.message.split('\n')[0]}); it is ${after.soft}` }
  }
  const after = nofileLimit()
  return { before, after, raised: true, note: `open-files limit raised from ${before.soft} to ${after.soft} for the bench and its children (prlimit)` }
}

/** The local port range connect() draws from, as [low, high]. */
export function localPortRange () {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number)
    return [low, high]
  } catch {
    return [NaN, NaN]
  }
}

/** Busy CPU time of the whole machine, all cores, in clock ticks (first line of /proc/stat). */
export function machineBusyTicks () {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
  return user + nice + system + irq + softirq + steal
}
