// The table bench/attack.js prints: one block per attack, one line per figure.

const codes = map => {
  const entries = Object.entries(map ?? {})
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k}×${n}`).join(', ')
}
const ms = x => x === null || x === undefined ? 'never' : `${x} ms`
const mib = x => x === null || x === undefined ? '-' : `${x.toFixed(1)} MiB`

/** Lines for the slow-reader attack. */
function slowLines (r) {
  const c = r.config
  return [
    `1. slow readers: ${c.pairs} pairs (one address each), sender ${c.fps}/s × ${c.frameBytes} B, reader never reads, ${c.seconds} s`,
    ['server RSS before / peak / 3 s after', `${mib(r.rssBeforeMiB)} / ${mib(r.rssPeakMiB)} / ${mib(r.rssAfterMiB)}`],
    ['readers cut by the server (pairs opened)', `${r.readersCut} (${r.pairsOpened}); still open at the end: ${r.pairsOpenAtEnd}`],
    ['time from join to cut, p50 / max', `${ms(r.readerLifetimeMs.p50)} / ${ms(r.readerLifetimeMs.max)}`],
    ['close code the readers got', codes(r.readerCloseCodes)],
    ['close code their senders got', codes(r.senderCloseCodes)],
    ['senders: sent, failed answers', `${r.sentMiBPerSec} MiB/s; ${codes(r.senders.failed)}`],
    ['server CPU (other processes)', `${r.cpu.serverCpuPercent}% of a core (${r.cpu.otherCpuPercent}%)`],
    ['unbounded column', r.unbounded]
  ]
}

/** Lines for the flood from one address, a column per window. */
function floodLines (r) {
  const w = r.windows
  const names = ['idle', 'atBudget', 'overBudget'].filter(n => w[n] !== undefined)
  const col = f => names.map(n => f(w[n])).join(' | ')
  const c = r.config
  return [
    `2. flood from one address: ${c.connections} connections from ${c.floodFrom} (${c.generators} generator processes), ${c.frameBytes} B frames, ${c.seconds} s per window; probe call from ${c.probeFrom}`,
    ['window', names.join(' | ')],
    ['offered / sent MiB/s', col(x => `${x.offeredMiBPerSec} / ${x.sentMiBPerSec}`)],
    ['flood frames relayed /s', col(x => String(x.relayedFramesPerSec))],
    ['server CPU, % of a core', col(x => `${x.serverCpuPercent}%`)],
    ['probe one hop p50 / p99 (lost)', col(x => `${x.probe.p50Ms} / ${x.probe.p99Ms} ms (${x.probe.lost})`)],
    ['server waited for a CPU, ms per s', col(x => String(x.serverRunQueueMsPerSec))],
    ['flood answered failed', col(x => codes(x.failedAnswers))],
    ['flood connections closed, by code', col(x => codes(x.closeCodes))],
    ['generators CPU (sum) / other processes', col(x => `${x.generatorsCpuPercent}% / ${x.otherCpuPercent}%`)]
  ]
}

/** Lines for the hung Redis. */
function redisLines (r) {
  const c = r.config
  const firstJoin = r.joinRefused.attempts[0]
  const s = r.senders
  const pair = (x, f) => `${f(x.a)} / ${f(x.b)}`
  const calls = x => `on one instance ${ms(x.localMs)}, across the two ${ms(x.splitMs)}`
  return [
    `3. hung Redis: two instances A and B on one redis-server, SIGSTOP for ${c.stallSeconds} s while ${c.senders} senders (rooms across A and B) send ${c.fps}/s × ${c.frameBytes} B; then SIGCONT`,
    ['a call relays, before the stall', calls(r.relaysBefore)],
    ['A: /health answers 503, after SIGSTOP', ms(r.healthDown.ms)],
    ['A: a new join gets 503, after SIGSTOP', `${ms(r.joinRefused.ms)} (first attempt: ${firstJoin === undefined ? '-' : `${firstJoin.outcome} after ${firstJoin.endMs - firstJoin.startMs} ms`})`],
    ['a call relays, 5 s into the stall', calls(r.relaysDuring)],
    ['RSS A / B before the stall', pair(r.rssBeforeMiB, mib)],
    ['RSS A / B peak during the stall', pair(r.rssPeakDuringStallMiB, mib)],
    ['RSS A / B at the end of the stall', pair(r.rssEndOfStallMiB, mib)],
    ['senders during the stall: sent, relayed', `${s.during.sent} frames, ${s.during.relayed} relayed`],
    ['senders during the stall: failed answers', codes(s.during.failed)],
    ['senders closed during the stall / after', `${codes(s.during.closeCodes)} / ${codes(s.after.closeCodes)}`],
    ['A: /health answers 200, after SIGCONT', ms(r.healthUp.ms)],
    ['a new call across A and B relays, after SIGCONT', `${ms(r.newCall.ms)} (attempts: ${r.newCall.attempts ?? '-'})`],
    ['the calls from before relay, after SIGCONT', calls(r.relaysAfter)],
    ['senders open at the end / relayed in the last 2 s', `${s.after.open} of ${c.senders} / ${s.after.relayed} frames`]
  ]
}

/**
 * The whole table as text.
 * @param {{slow?: object, flood?: object, redis?: object}} results
 */
export function attackTable (results) {
  const blocks = []
  if (results.slow) blocks.push(slowLines(results.slow))
  if (results.flood) blocks.push(floodLines(results.flood))
  if (results.redis) blocks.push(redisLines(results.redis))
  const width = Math.max(...blocks.flatMap(b => b.slice(1).map(([label]) => label.length)))
  return blocks.map(([title, ...rows]) => [title, ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join('\n')).join('\n\n')
}
