// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time per
// function, self time per package or file, and inclusive time of the project's own functions.
import path from 'node:path'

/**
 * Where a call frame's code lives, as a short group name: a package under node_modules, a file
 * of this project (dist/…), node's internals, or V8's pseudo-frames ((garbage collector), …).
 */
export function groupOf (callFrame) {
  const url = callFrame.url
  if (url === '') return callFrame.functionName.startsWith('(') ? callFrame.functionName : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url
  const nm = file.lastIndexOf('/node_modules/')
  if (nm !== -1) {
    const parts = file.slice(nm + '/node_modules/'.length).split('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  const m = /\/(dist|lib|bench|bin)\/(.*)$/.exec(file)
  return m === null ? path.basename(file) : `${m[1]}/${m[2]}`
}

function frameName (callFrame) {
  const where = callFrame.url === '' ? '' : ` ${groupOf(callFrame)}:${callFrame.lineNumber + 1}`
  return `${callFrame.functionName || '(anonymous)'}${where}`
}

/**
 * Summarizes a profile, optionally only the samples inside [fromUs, toUs] (monotonic clock,
 * the clock of process.hrtime and of the profile's timestamps).
 * @returns {{totalMs, busyMs, idleMs, windowed, self: Array, groups: Array, inclusive: Array}}
 */
export function summarizeProfile (profile, window) {
  const byId = new Map()
  for (const node of profile.nodes) byId.set(node.id, node)
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const samples = profile.samples
  const deltas = profile.timeDeltas
  const times = new Array(samples.length)
  let t = profile.startTime
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i]
    times[i] = t
  }
  const inWindow = window !== undefined && times.some(x => x >= window[0] && x <= window[1])
  const self = new Map()
  const groups = new Map()
  const inclusive = new Map()
  let total = 0
  let idle = 0
  for (let i = 0; i < samples.length; i++) {
    if (inWindow && (times[i] < window[0] || times[i] > window[1])) continue
    // A sample stands for the time until the next one.
    const w = i + 1 < samples.length ? deltas[i + 1] : 0
    const node = byId.get(samples[i])
    const cf = node.callFrame
    total += w
    if (cf.functionName === '(idle)') {
      idle += w
      continue
    }
    const key = frameName(cf)
    self.set(key, (self.get(key) ?? 0) + w)
    const g = groupOf(cf)
    groups.set(g, (groups.get(g) ?? 0) + w)
    // Inclusive time: each function once per stack.
    const seen = new Set()
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id).callFrame
      if (f.url === '') continue
      const k = frameName(f)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + w)
    }
  }
  const busy = total - idle
  const list = m => [...m.entries()].map(([name, us]) => ({ name, ms: us / 1000, percent: busy > 0 ? 100 * us / busy : 0 }))
    .sort((a, b) => b.ms - a.ms)
  return {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    windowed: inWindow,
    self: list(self),
    groups: list(groups),
    inclusive: list(inclusive)
  }
}

/**
 * The summary as text: the top `top` self-time functions, the groups, and project functions
 * inclusive. With `per` ({count, unit}), each line also shows µs per unit (e.g. per message).
 */
export function formatSummary (summary, { top = 25, title = '', per } = {}) {
  const perUnit = r => per === undefined || per.count <= 0 ? '' : `${(r.ms * 1000 / per.count).toFixed(2).padStart(7)} µs/${per.unit}  `
  const line = r => `${r.percent.toFixed(1).padStart(6)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${perUnit(r)}${r.name}`
  const out = []
  if (title !== '') out.push(title)
  out.push(`busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms${summary.windowed ? ' (measured window only)' : ' (whole profile)'}; percentages are of busy time` +
    (per === undefined ? '' : `; busy time per ${per.unit}: ${(summary.busyMs * 1000 / per.count).toFixed(2)} µs (main thread)`))
  out.push('', `top ${top} functions by self time:`)
  out.push(...summary.self.slice(0, top).map(line))
  out.push('', 'self time by package / file:')
  out.push(...summary.groups.slice(0, 20).map(line))
  const own = summary.inclusive.filter(r => / dist\//.test(r.name))
  if (own.length > 0) {
    out.push('', 'project functions (dist/), inclusive time:')
    out.push(...own.slice(0, 20).map(line))
  }
  return out.join('\n')
}
