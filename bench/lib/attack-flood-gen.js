// A flood generator for attack 2 (bench/lib/attack-flood.js forks it, two or more at once, so
// that the load the server is offered does not depend on what one event loop can write). It
// holds the rooms it is given, both peers of each from 127.0.0.1, and makes every peer send
// NOTIFYs of `frameBytes` at the rate the parent sets, as an attacker would: a peer the server
// closes comes back into its room at once. It tells the parent what happened, phase by phase.
//
// Messages from the parent: {type: 'start', base, rooms, frameBytes} (answered {type: 'ready'}),
// {type: 'rate', fps} (answered with the counts of the phase that ends), {type: 'stop'}.
import { performance } from 'node:perf_hooks'
import { count, newCounts, notifyOf, openPeer, sleep, tally } from './attack-tools.js'

const tickMs = 10
// A peer whose unsent bytes exceed this waits: the server reads more slowly than it is offered.
const maxUnsent = 512 * 1024

let base
let frame
let fps = 0
let stopping = false
const peers = []
let phase = newPhase()

function newPhase () {
  return {
    startedAt: performance.now(),
    ...newCounts(),
    closeCodes: {},
    rejoins: 0,
    joinFailures: {}
  }
}

/** A peer of `room`, from 127.0.0.1, counting what it receives. */
async function join (room) {
  const ws = await openPeer(base, `/call/${room}`)
  ws.credit = 0
  ws.on('message', data => tally(data, phase))
  return ws
}

/** Holds seat `slot` of `room`: joins it (a failure there fails the run), and again whenever the server closes the peer. */
async function holdSeat (slot, room) {
  peers[slot] = await join(room)
  rejoinOnClose(slot, room)
}

function rejoinOnClose (slot, room) {
  peers[slot].once('close', async code => {
    peers[slot] = undefined
    if (stopping) return
    count(phase.closeCodes, code)
    phase.rejoins++
    while (peers[slot] === undefined) {
      await sleep(100)
      if (stopping) return
      try {
        peers[slot] = await join(room)
      } catch (err) {
        count(phase.joinFailures, err.status)
      }
    }
    rejoinOnClose(slot, room)
  })
}

/** Every tick, each open peer gets `fps` × elapsed time of credit and sends what it has. */
function tick (last) {
  const now = performance.now()
  const earned = fps * (now - last) / 1000
  for (const ws of peers) {
    if (ws === undefined || ws.readyState !== ws.OPEN) continue
    // A late tick (a busy machine) is made up for, but a peer saves up at most 100 ms of
    // frames: well inside the server's per-connection burst, so the rate is what it judges.
    ws.credit = Math.min(ws.credit + earned, Math.max(1, earned, fps / 10))
    while (ws.credit >= 1) {
      if (ws.bufferedAmount > maxUnsent) {
        phase.heldBack++
        ws.credit -= 1
        continue
      }
      ws.send(frame, { binary: false })
      ws.credit -= 1
      phase.sent++
    }
  }
  if (!stopping) setTimeout(tick, tickMs, now)
}

process.on('message', async msg => {
  if (msg.type === 'start') {
    base = msg.base
    frame = Buffer.from(notifyOf(msg.frameBytes))
    const joined = msg.rooms.flatMap((room, r) => [holdSeat(r * 2, room), holdSeat(r * 2 + 1, room)])
    try {
      await Promise.all(joined)
    } catch (err) {
      process.send({ type: 'error', message: err.message })
      return
    }
    setTimeout(tick, tickMs, performance.now())
    process.send({ type: 'ready', peers: peers.length })
  } else if (msg.type === 'rate') {
    const ended = phase
    phase = newPhase()
    fps = msg.fps
    process.send({ type: 'phase', counts: { ...ended, seconds: (performance.now() - ended.startedAt) / 1000 } })
  } else if (msg.type === 'stop') {
    stopping = true
    for (const ws of peers) ws?.terminate()
    process.disconnect()
  }
})
