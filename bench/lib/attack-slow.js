// Attack 1, slow readers (issue 10, defect 1): in each of `pairs` rooms one peer sends 64 KB
// NOTIFYs at `fps` (inside the per-connection rate limit) and the other never reads, so that
// what the server sends it piles up in the server. Each pair has its own loopback address, so
// the per-address budget (8 MiB/s) is not what stops it: only the bound on a connection's
// outgoing buffer can. When the server cuts a reader, its pair is replaced by a fresh one at
// once, so the pressure lasts the whole run. Measured: the server's RSS before, at its peak and
// after, how long each reader lasted, and how the server closed the reader and its partner.
import { performance } from 'node:perf_hooks'
import {
  RssSampler, bigFrameBytes, count, cpuWindow, msSince, newCounts, notifyOf, openPair, percentile, rssMiB, sendAtRate, sleep,
  startServer, tally
} from './attack-tools.js'

/**
 * @param {object} options
 * @param {string} options.projectDir the checkout attacked
 * @param {number} [options.pairs] rooms attacked at once, each from its own address
 * @param {number} [options.fps] frames per second each sender sends
 * @param {number} [options.seconds] length of the attack
 */
export async function slowReaders ({ projectDir, pairs = 10, fps = 45, seconds = 20 }) {
  const server = await startServer([], projectDir)
  try {
    await sleep(500)
    const rssBeforeMiB = rssMiB(server.pid)
    const frame = Buffer.from(notifyOf(bigFrameBytes))
    const stats = {
      pairsOpened: 0,
      joinFailures: {},
      senders: newCounts(),
      readerLifetimesMs: [],
      readerCloseCodes: {},
      senderCloseCodes: {},
      pairsOpenAtEnd: 0
    }
    const sampler = new RssSampler(server.pid)
    const cpu = cpuWindow({ server: [server.pid] })
    const deadline = performance.now() + seconds * 1000
    // The window ends when the senders stop; the lanes then still read what their readers were left.
    const measured = sleep(seconds * 1000).then(() => ({ window: cpu.end(), ...sampler.stop() }))
    await Promise.all(Array.from({ length: pairs }, (_, lane) => attackLane(server.url, lane, frame, fps, deadline, stats)))
    const { window, peakMiB, series } = await measured
    // Every attacker is gone: what the server still holds 3 s later is what it kept.
    await sleep(3000)
    const rssAfterMiB = rssMiB(server.pid)
    const lifetimes = stats.readerLifetimesMs
    return {
      server: server.command,
      config: { pairs, fps, seconds, frameBytes: bigFrameBytes, addresses: `${laneAddress(0)}..${laneAddress(pairs - 1)}, one per pair` },
      rssBeforeMiB,
      rssPeakMiB: peakMiB,
      rssAfterMiB,
      readersCut: lifetimes.length,
      readerLifetimeMs: { p50: percentile(lifetimes, 50), max: lifetimes.length > 0 ? Math.max(...lifetimes) : null },
      ...stats,
      sentMiBPerSec: Math.round(stats.senders.sent * bigFrameBytes / 1048576 / window.seconds * 10) / 10,
      cpu: window,
      rssSeries: series
    }
  } finally {
    await server.stop()
  }
}

/** The loopback address of attack lane `lane`: one per pair, so no two pairs share a budget. */
function laneAddress (lane) {
  return `127.0.0.${11 + lane}`
}

/**
 * One attacker: a room with a sender and a reader that never reads, replaced as soon as the
 * server ends it, until `deadline`.
 */
async function attackLane (base, lane, frame, fps, deadline, stats) {
  for (let k = 0; performance.now() < deadline; k++) {
    let reader, sender
    try {
      [reader, sender] = await openPair(base, `slow-${lane}-${k}`, { localAddress: laneAddress(lane) })
    } catch (err) {
      count(stats.joinFailures, err.status)
      await sleep(200)
      continue
    }
    stats.pairsOpened++
    // Stop reading for good: the kernel's buffers fill, then the server's.
    reader._socket.pause()
    await floodUntilClosed(sender, frame, fps, deadline, stats)
    const readerCode = await closeCodeOf(reader)
    if (sender.closedAt === undefined) {
      stats.pairsOpenAtEnd++
    } else {
      stats.readerLifetimesMs.push(sender.closedAt)
      count(stats.senderCloseCodes, sender.closeCode)
      count(stats.readerCloseCodes, readerCode)
    }
    sender.terminate()
  }
}

/**
 * Sends `fps` frames a second on `sender` until the server closes it (it does when the reader,
 * its partner, is cut off) or until `deadline`. Notes on the sender when (ms after it started)
 * and with which code it was closed.
 */
function floodUntilClosed (sender, frame, fps, deadline, stats) {
  const started = performance.now()
  sender.on('message', data => tally(data, stats.senders))
  const stop = sendAtRate(sender, frame, fps, stats.senders)
  return new Promise(resolve => {
    const timer = setTimeout(finish, deadline - started)
    function finish () {
      clearTimeout(timer)
      stop()
      resolve()
    }
    sender.once('close', code => {
      sender.closedAt = msSince(started)
      sender.closeCode = code
      finish()
    })
  })
}

/**
 * Reads what the server left for a reader, now, to learn how its connection ended: the close
 * code the server sent, or 1006 when the connection ended without one (the server gives up on
 * delivering the close frame to a peer that does not read). 'open' if it is still open after 5 s.
 */
function closeCodeOf (reader) {
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve('open'), 5000)
    reader.once('close', code => {
      clearTimeout(timer)
      resolve(code)
    })
    reader._socket.resume()
    if (reader.readyState === reader.OPEN) reader.close()
  })
}
