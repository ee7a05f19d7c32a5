#!/usr/bin/env node
// The load generator: its own process, so that it never shares the server's event loop.
// bench/run.js forks it once per measurement and sends one request over IPC; it answers with
// one result and exits. It can also be run by hand:
//   node bench/load.js '{"scenario":"relay","servers":["http://127.0.0.1:8080/"],"pids":[1234],...}'
//
// Scenarios (fields of the request):
//  relay    closed loop: `rooms` rooms, `inFlight` frames in flight per room (a peer that receives
//           a frame sends one back), NOTIFY frames of `frameBytes`; `warmupMs`, then a window of
//           `measureMs` in which relayed frames are counted and the server CPU time is read
//           from /proc/<pid>/stat.
//  group    closed loop in rooms of `roomSize`: every frame goes to all the other peers of its
//           room; each time a room's peers have received `roomSize - 1` frames, the next of
//           them (in turn) sends one, so that `inFlight` broadcasts stay in flight per room.
//           Counted: frames delivered.
//  latency  `rooms` rooms, one frame in flight per room, a random pause of `gapMs` [min, max]
//           before each answer: one-hop latency (send to receive, one clock) p50/p99.
//  idle     `peers` peers in `peers / 2` rooms joined `concurrency` at a time: joins per
//           second, failed joins, and the server's RSS before and after (after collecting
//           garbage through its inspector) for RSS per idle peer.
// `protocol` (default notify) is how the peers speak to the server (lib/protocols.js).
// `placement`: `split` (the default) puts seat k of every room on servers[k % servers.length],
// so that with two instances every frame crosses between them; `colocated` puts every peer of
// room r on servers[r % servers.length].
import { performance } from 'node:perf_hooks'
import { collectGarbage } from './lib/inspector.js'
import { cpuTicksOf, cpuTicksSplit, machineBusyTicks, rssKiBOf } from './lib/proc.js'
import { protocols } from './lib/protocols.js'
import { RawPeer, pool } from './lib/rawws.js'

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

function endpoint (url) {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port), prefix: u.pathname.replace(/\/$/, '') }
}

/**
 * Joins `rooms` rooms of `size` peers, speaking the request's protocol with frames of `bytes`;
 * returns the peers as [room 0 seat 0, room 0 seat 1, ..., room 1 seat 0, ...] and the failures.
 */
async function joinRooms (req, rooms, { size = 2, bytes = 0, roomPrefix = req.roomPrefix } = {}) {
  const protocol = protocols[req.protocol ?? 'notify']({ bytes, size, roomPrefix })
  const servers = req.servers.map(endpoint)
  const colocated = req.placement === 'colocated'
  const peers = new Array(rooms * size)
  const started = performance.now()
  const failed = await pool(rooms * size, req.concurrency ?? 100, async i => {
    const room = Math.floor(i / size)
    const seat = i % size
    const at = servers[(colocated ? room : seat) % servers.length]
    const peer = new RawPeer(at, protocol.path(at.prefix, room, seat), protocol.expect(room, seat))
    peer.room = room
    peer.seat = seat
    peer.setFrame(protocol.frame(room, seat), req.peerRate, req.peerBurst)
    peers[i] = peer
    await peer.connect()
  })
  const seconds = (performance.now() - started) / 1000
  const errors = {}
  for (const p of peers) if (p !== undefined && p.errorMessage !== undefined) errors[p.errorMessage] = (errors[p.errorMessage] ?? 0) + 1
  return { peers, failed, seconds, errors }
}

function summarizePeers (peers) {
  let unexpected = 0
  let notices = 0
  let paced = 0
  let closedByServer = 0
  const closeCodes = {}
  const samples = []
  for (const p of peers) {
    if (p === undefined) continue
    unexpected += p.unexpected
    notices += p.notices
    paced += p.paced
    if (p.closeCode !== undefined) {
      closedByServer++
      closeCodes[p.closeCode] = (closeCodes[p.closeCode] ?? 0) + 1
    }
    if (samples.length < 3) samples.push(...p.unexpectedSamples.slice(0, 3 - samples.length))
  }
  return { unexpected, notices, paced, closedByServer, closeCodes, unexpectedSamples: samples }
}

/** CPU counters at one instant: the servers', this process's and the whole machine's. */
function snapshot (req) {
  let system = 0
  for (const pid of req.pids) system += cpuTicksSplit(pid)[1]
  return {
    at: performance.now(),
    server: cpuTicksOf(req.pids),
    serverSystem: system,
    own: cpuTicksOf([process.pid]),
    machine: machineBusyTicks()
  }
}

/** CPU use between two snapshots, in % of one core. */
function cpuBetween (req, s0, s1) {
  const seconds = (s1.at - s0.at) / 1000
  const pct = ticks => 100 * ticks / req.clockTicks / seconds
  const server = s1.server - s0.server
  const own = s1.own - s0.own
  return {
    serverCpuPercent: pct(server),
    generatorCpuPercent: pct(own),
    // CPU the rest of the machine used (other processes, kernel work charged to neither):
    // a busy machine makes the figures suspect.
    otherCpuPercent: pct(s1.machine - s0.machine - server - own)
  }
}

/**
 * The measured window of a closed loop: warm-up, then `measureMs` in which the frames counted
 * by `count()` and the servers' CPU are read; then every peer is dropped.
 */
async function closedLoopWindow (req, peers, count) {
  await sleep(req.warmupMs)
  const s0 = snapshot(req)
  const count0 = count()
  const mono0 = process.hrtime.bigint()
  await sleep(req.measureMs)
  const s1 = snapshot(req)
  const count1 = count()
  const mono1 = process.hrtime.bigint()
  for (const p of peers) if (p !== undefined) p.destroy()
  const seconds = (s1.at - s0.at) / 1000
  const messages = count1 - count0
  const serverCpuUs = (s1.server - s0.server) * 1e6 / req.clockTicks
  return {
    seconds,
    messages,
    messagesPerSec: messages / seconds,
    serverCpuUs,
    serverCpuUsPerMsg: messages > 0 ? serverCpuUs / messages : null,
    // The kernel's share (system time: socket reads and writes, loopback delivery, wake-ups).
    serverSystemUsPerMsg: messages > 0 ? (s1.serverSystem - s0.serverSystem) * 1e6 / req.clockTicks / messages : null,
    ...cpuBetween(req, s0, s1),
    // The measured window on the monotonic clock (µs), to cut a --cpu-prof profile to it.
    windowMonoUs: [Number(mono0 / 1000n), Number(mono1 / 1000n)]
  }
}

async function relay (req) {
  const joined = await joinRooms(req, req.rooms, { bytes: req.frameBytes })
  const { peers } = joined
  let received = 0
  const onText = peer => {
    received++
    peer.send()
  }
  for (const p of peers) p.onText = onText
  // Start the loop: a room's frames in flight, split between its two peers.
  for (let r = 0; r < req.rooms; r++) {
    const a = peers[2 * r]
    const b = peers[2 * r + 1]
    for (let k = 0; k < req.inFlight; k++) (k % 2 === 0 ? a : b).send()
  }
  const window = await closedLoopWindow(req, peers, () => received)
  return {
    scenario: 'relay',
    frameBytes: req.frameBytes,
    rooms: req.rooms,
    inFlight: req.inFlight,
    joinFailures: joined.failed,
    joinErrors: joined.errors,
    ...window,
    ...summarizePeers(peers)
  }
}

async function group (req) {
  const size = req.roomSize
  const joined = await joinRooms(req, req.rooms, { size, bytes: req.frameBytes })
  const { peers } = joined
  // Per room: frames delivered since its last send, and whose turn it is to send.
  const delivered = new Int32Array(req.rooms)
  const turn = new Int32Array(req.rooms)
  let received = 0
  const next = room => {
    const seat = turn[room]
    turn[room] = seat + 1 === size ? 0 : seat + 1
    peers[room * size + seat].send()
  }
  const onText = peer => {
    received++
    const room = peer.room
    if (++delivered[room] === size - 1) {
      delivered[room] = 0
      next(room)
    }
  }
  for (const p of peers) p.onText = onText
  for (let r = 0; r < req.rooms; r++) for (let k = 0; k < req.inFlight; k++) next(r)
  const window = await closedLoopWindow(req, peers, () => received)
  return {
    scenario: 'group',
    frameBytes: req.frameBytes,
    rooms: req.rooms,
    roomSize: size,
    inFlight: req.inFlight,
    joinFailures: joined.failed,
    joinErrors: joined.errors,
    ...window,
    ...summarizePeers(peers)
  }
}

function percentile (sorted, p) {
  if (sorted.length === 0) return null
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[at]
}

async function latency (req) {
  const joined = await joinRooms(req, req.rooms, { bytes: req.frameBytes })
  const { peers } = joined
  const sentAt = new Float64Array(req.rooms)
  const samples = []
  let measuring = false
  const [gapMin, gapMax] = req.gapMs
  const answer = peer => {
    sentAt[peer.room] = performance.now()
    peer.send()
  }
  const onText = peer => {
    const hop = performance.now() - sentAt[peer.room]
    if (measuring) samples.push(hop)
    setTimeout(answer, gapMin + Math.random() * (gapMax - gapMin), peer.partner)
  }
  for (let r = 0; r < req.rooms; r++) {
    const a = peers[2 * r]
    const b = peers[2 * r + 1]
    a.partner = b
    b.partner = a
  }
  for (const p of peers) p.onText = onText
  // Stagger the rooms' first frames so that they do not move in step.
  for (let r = 0; r < req.rooms; r++) setTimeout(answer, Math.random() * gapMax, peers[2 * r])
  await sleep(req.warmupMs)
  measuring = true
  const s0 = snapshot(req)
  await sleep(req.measureMs)
  const s1 = snapshot(req)
  measuring = false
  for (const p of peers) if (p !== undefined) p.destroy()
  samples.sort((x, y) => x - y)
  return {
    scenario: 'latency',
    frameBytes: req.frameBytes,
    rooms: req.rooms,
    joinFailures: joined.failed,
    joinErrors: joined.errors,
    samples: samples.length,
    p50Ms: percentile(samples, 50),
    p90Ms: percentile(samples, 90),
    p99Ms: percentile(samples, 99),
    maxMs: samples.length > 0 ? samples[samples.length - 1] : null,
    meanMs: samples.length > 0 ? samples.reduce((s, x) => s + x, 0) / samples.length : null,
    ...cpuBetween(req, s0, s1),
    ...summarizePeers(peers)
  }
}

async function idle (req) {
  const rooms = Math.ceil(req.peers / 2)
  // Warm-up: the first joins load and compile code and grow pools; they are not measured.
  if (req.warmupPeers > 0) {
    const warm = await joinRooms(req, Math.ceil(req.warmupPeers / 2), { roomPrefix: `${req.roomPrefix}-warm` })
    for (const p of warm.peers) if (p !== undefined) p.destroy()
    await sleep(req.settleMs)
  }
  const gc = req.inspectors !== undefined && req.inspectors.length > 0
  const heap0 = gc ? await collectGarbage(req.inspectors) : null
  await sleep(req.settleMs)
  const rss0 = rssKiBOf(req.pids)
  const s0 = snapshot(req)
  const mono0 = process.hrtime.bigint()
  const joined = await joinRooms(req, rooms)
  const mono1 = process.hrtime.bigint()
  const s1 = snapshot(req)
  const joinedPeers = rooms * 2 - joined.failed
  await sleep(req.settleMs)
  const heap1 = gc ? await collectGarbage(req.inspectors) : null
  await sleep(req.settleMs)
  const rss1 = rssKiBOf(req.pids)
  const stillOpen = joined.peers.filter(p => p !== undefined && p.state === 2).length
  const summary = summarizePeers(joined.peers)
  for (const p of joined.peers) if (p !== undefined) p.destroy()
  return {
    scenario: 'idle',
    peers: rooms * 2,
    rooms,
    joined: joinedPeers,
    failedJoins: joined.failed,
    joinErrors: joined.errors,
    stillOpen,
    joinSeconds: joined.seconds,
    joinsPerSec: joinedPeers / joined.seconds,
    serverCpuUsPerJoin: joinedPeers > 0 ? (s1.server - s0.server) * 1e6 / req.clockTicks / joinedPeers : null,
    // The joins on the monotonic clock (µs), to cut a --cpu-prof profile to them.
    windowMonoUs: [Number(mono0 / 1000n), Number(mono1 / 1000n)],
    rssBeforeKiB: rss0,
    rssAfterKiB: rss1,
    rssPerPeerKiB: joinedPeers > 0 ? (rss1 - rss0) / joinedPeers : null,
    heapBeforeBytes: heap0,
    heapAfterBytes: heap1,
    heapPerPeerBytes: gc && joinedPeers > 0 ? (heap1 - heap0) / joinedPeers : null,
    ...cpuBetween(req, s0, s1),
    ...summary
  }
}

const scenarios = { relay, group, latency, idle }

async function handle (req) {
  const run = scenarios[req.scenario]
  if (run === undefined) throw new Error(`unknown scenario ${req.scenario}`)
  return { ...await run(req), protocol: req.protocol ?? 'notify', placement: req.placement ?? 'split' }
}

if (process.send !== undefined) {
  process.once('message', req => {
    handle(req).then(
      result => process.send({ ok: true, result }, () => process.exit(0)),
      err => process.send({ ok: false, error: err.stack ?? String(err) }, () => process.exit(1))
    )
  })
} else {
  handle(JSON.parse(process.argv[2] ?? '{}')).then(result => {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    process.exit(0)
  }, err => {
    process.stderr.write(`${err.stack ?? err}\n`)
    process.exit(1)
  })
}
