// The figures the bench reports, their medians and ratios, and the printed table.

/**
 * Each figure: where it comes from in one measurement's results and how to print it.
 * `{roomSize}` in a label is the group scenarios' room size. The targets that judge a figure
 * belong to the mode's ratios (lib/targets.js).
 */
export const figures = [
  { key: 'cpuUsPerMsg200', label: 'server CPU µs per relayed msg, 200 B', scenario: 'relay200', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower' },
  { key: 'cpuUsPerMsg4k', label: 'server CPU µs per relayed msg, 4 KB', scenario: 'relay4k', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower' },
  { key: 'msgsPerSec200', label: 'messages/s relayed, 200 B', scenario: 'relay200', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'msgsPerSec4k', label: 'messages/s relayed, 4 KB', scenario: 'relay4k', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'groupCpuUsPerMsg200', label: 'rooms of {roomSize}: CPU µs per delivered msg, 200 B', scenario: 'group200', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower' },
  { key: 'groupCpuUsPerMsg4k', label: 'rooms of {roomSize}: CPU µs per delivered msg, 4 KB', scenario: 'group4k', field: 'serverCpuUsPerMsg', digits: 2, better: 'lower' },
  { key: 'groupMsgsPerSec200', label: 'rooms of {roomSize}: messages/s delivered, 200 B', scenario: 'group200', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'groupMsgsPerSec4k', label: 'rooms of {roomSize}: messages/s delivered, 4 KB', scenario: 'group4k', field: 'messagesPerSec', digits: 0, better: 'higher' },
  { key: 'latencyP50Ms', label: 'one-hop latency p50, ms (light load)', scenario: 'latency', field: 'p50Ms', digits: 3, better: 'lower' },
  { key: 'latencyP99Ms', label: 'one-hop latency p99, ms (light load)', scenario: 'latency', field: 'p99Ms', digits: 3, better: 'lower' },
  { key: 'rssPerIdlePeerKiB', label: 'RSS per idle peer, KiB', scenario: 'idle', field: 'rssPerPeerKiB', digits: 2, better: 'lower' },
  { key: 'joinsPerSec', label: 'joins/s', scenario: 'idle', field: 'joinsPerSec', digits: 0, better: 'higher' },
  { key: 'cpuUsPerJoin', label: 'server CPU µs per join', scenario: 'idle', field: 'serverCpuUsPerJoin', digits: 1, better: 'lower' },
  { key: 'failedJoins', label: 'failed joins (worst round)', scenario: 'idle', field: 'failedJoins', digits: 0, better: 'lower', aggregate: 'max', noRatio: true }
]

export function median (values) {
  const v = values.filter(x => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

const isNumber = x => typeof x === 'number' && Number.isFinite(x)

/**
 * Summarizes rounds into figures: for each column the median over rounds (the worst round for
 * failed joins), and each ratio of the mode, judged against its target when it has one.
 * @param {Array<Record<string, Record<string, object>>>} rounds rounds[i][target][scenario] = result
 * @param {{columns: string[], ratios: Array<{of: string, to: string, targets: object}>}} mode
 * @param {Set<string>} ran the scenarios that ran
 * @param {{roomSize?: number}} [context] fills the labels
 */
export function summarize (rounds, mode, ran, context = {}) {
  const out = []
  for (const f of figures) {
    if (!ran.has(f.scenario)) continue
    const samples = {}
    const values = {}
    for (const t of mode.columns) {
      samples[t] = rounds.map(r => r[t]?.[f.scenario]?.[f.field] ?? null)
      const nums = samples[t].filter(isNumber)
      values[t] = f.aggregate === 'max' ? (nums.length > 0 ? Math.max(...nums) : null) : median(nums)
    }
    const ratios = f.noRatio
      ? []
      : mode.ratios.map(({ of, to, targets }) => {
        const ratio = isNumber(values[of]) && isNumber(values[to]) && values[to] !== 0 ? values[of] / values[to] : null
        const roundRatios = rounds.map(r => {
          const x = r[of]?.[f.scenario]?.[f.field]
          const y = r[to]?.[f.scenario]?.[f.field]
          return isNumber(x) && isNumber(y) && y !== 0 ? x / y : null
        })
        const target = targets?.[f.key]
        const met = ratio === null || target === undefined ? null : target.max !== undefined ? ratio <= target.max : ratio >= target.min
        return { of, to, ratio, roundRatios, target: target === undefined ? null : targetText(target), met }
      })
    const measured = Object.values(values).filter(v => v !== null)
    out.push({
      key: f.key,
      label: f.label.replace('{roomSize}', String(context.roomSize ?? '?')),
      better: f.better,
      values,
      samples,
      ratios,
      // No join failed, in any column that joined.
      ...(f.key === 'failedJoins' ? { target: '0', met: measured.every(v => v === 0) } : {})
    })
  }
  return out
}

function targetText (target) {
  return target.max !== undefined ? `<= ${target.max.toFixed(2)}` : `>= ${target.min.toFixed(2)}`
}

function fmt (x, digits) {
  if (x === null || x === undefined) return '-'
  return x.toFixed(digits)
}

/**
 * The table as text: one line per figure; a column per target, one per ratio, and the targets
 * with their verdicts.
 */
export function table (summary, mode) {
  const header = ['figure', ...mode.columns, ...mode.ratios.map(r => `${r.of}/${r.to}`), 'targets']
  const rows = [header]
  for (const s of summary) {
    const f = figures.find(x => x.key === s.key)
    const verdicts = s.ratios
      .filter(r => r.target !== null)
      .map(r => `${r.of}/${r.to} ${r.target}${r.met === null ? '' : r.met ? ' met' : ' MISSED'}`)
    if (s.target !== undefined) verdicts.push(`${s.target}${s.met ? ' met' : ' MISSED'}`)
    rows.push([
      s.label,
      ...mode.columns.map(t => fmt(s.values[t], f.digits)),
      ...mode.ratios.map((_, i) => s.ratios[i] === undefined ? '' : fmt(s.ratios[i].ratio, 2)),
      verdicts.join('; ')
    ])
  }
  const widths = header.map((_, i) => Math.max(...rows.map(r => r[i].length)))
  const last = header.length - 1
  const line = r => r.map((cell, i) => i === 0 || i === last ? cell.padEnd(widths[i]) : cell.padStart(widths[i])).join('  ').trimEnd()
  return [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}
