// The figures the bench reports, their medians and ratios, and the printed table.

/**
 * Each figure: where it comes from in one measurement's results, how to print it, and the
 * issue's target for the ratio A/B (when it has one).
 */
export const figures = [
  { key: 'cpuUsPerMsg200', label: 'server CPU µs per relayed msg, 200 B', scenario: 'relay200', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower', target: { max: 1.10 } },
  { key: 'cpuUsPerMsg4k', label: 'server CPU µs per relayed msg, 4 KB', scenario: 'relay4k', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower', target: { max: 1.10 } },
  { key: 'msgsPerSec200', label: 'messages/s relayed, 200 B', scenario: 'relay200', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'msgsPerSec4k', label: 'messages/s relayed, 4 KB', scenario: 'relay4k', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'latencyP50Ms', label: 'one-hop latency p50, ms (light load)', scenario: 'latency', field: 'p50Ms', digits: 3, better: 'lower' },
  { key: 'latencyP99Ms', label: 'one-hop latency p99, ms (light load)', scenario: 'latency', field: 'p99Ms', digits: 3, better: 'lower' },
  { key: 'rssPerIdlePeerKiB', label: 'RSS per idle peer, KiB', scenario: 'idle', field: 'rssPerPeerKiB', digits: 2, better: 'lower', target: { max: 1.05 } },
  { key: 'joinsPerSec', label: 'joins/s', scenario: 'idle', field: 'joinsPerSec', digits: 0, better: 'higher', target: { min: 0.9 } },
  { key: 'cpuUsPerJoin', label: 'server CPU µs per join', scenario: 'idle', field: 'serverCpuUsPerJoin', digits: 1, better: 'lower' },
  { key: 'failedJoins', label: 'failed joins (worst round)', scenario: 'idle', field: 'failedJoins', digits: 0, better: 'lower', aggregate: 'max', noRatio: true }
]

export function median (values) {
  const v = values.filter(x => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

/**
 * Summarizes rounds into figures.
 * @param {Array<Record<string, Record<string, object>>>} rounds rounds[i][target][scenario] = result
 * @param {string} a target name (numerator)
 * @param {string} b target name (denominator)
 * @param {Set<string>} ran the scenarios that ran
 * @param {boolean} [withTargets] judge the ratios against the targets (they are for the
 *   project against the bare relay; other pairs only report)
 */
export function summarize (rounds, a, b, ran, withTargets = true) {
  const out = []
  for (const spec of figures) {
    if (!ran.has(spec.scenario)) continue
    const f = withTargets ? spec : { ...spec, target: undefined }
    const samples = {}
    const value = {}
    for (const t of [a, b]) {
      samples[t] = rounds.map(r => r[t]?.[f.scenario]?.[f.field] ?? null)
      const nums = samples[t].filter(x => typeof x === 'number' && Number.isFinite(x))
      value[t] = f.aggregate === 'max' ? (nums.length > 0 ? Math.max(...nums) : null) : median(nums)
    }
    const ratio = f.noRatio || value[a] === null || value[b] === null || value[b] === 0 ? null : value[a] / value[b]
    const roundRatios = f.noRatio
      ? null
      : rounds.map(r => {
        const x = r[a]?.[f.scenario]?.[f.field]
        const y = r[b]?.[f.scenario]?.[f.field]
        return typeof x === 'number' && typeof y === 'number' && y !== 0 ? x / y : null
      })
    let met = null
    if (ratio !== null && f.target !== undefined) {
      met = f.target.max !== undefined ? ratio <= f.target.max : ratio >= f.target.min
    }
    if (f.key === 'failedJoins') met = value[a] === 0 && value[b] === 0
    out.push({
      key: f.key,
      label: f.label,
      better: f.better,
      [a]: value[a],
      [b]: value[b],
      ratio,
      target: f.target === undefined ? (f.key === 'failedJoins' ? '0' : null) : f.target.max !== undefined ? `<= ${f.target.max.toFixed(2)}` : `>= ${f.target.min.toFixed(2)}`,
      met,
      samples,
      roundRatios
    })
  }
  return out
}

function fmt (x, digits) {
  if (x === null || x === undefined) return '-'
  return x.toFixed(digits)
}

/** The table as text: one line per figure, A, B, A/B, target. */
export function table (summary, a, b) {
  const rows = [['figure', a, b, `${a}/${b}`, 'target']]
  for (const s of summary) {
    const f = figures.find(x => x.key === s.key)
    const target = s.target === null ? '' : s.target + (s.met === null ? '' : s.met ? '  met' : '  MISSED')
    rows.push([s.label, fmt(s[a], f.digits), fmt(s[b], f.digits), s.ratio === null ? '' : fmt(s.ratio, 2), target])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  return rows.map((r, ri) => r.map((cell, i) => i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))
    .join('  ').trimEnd() + (ri === 0 ? '\n' + widths.map(w => '-'.repeat(w)).join('  ') : '')).join('\n')
}
