// A deliberately small WebSocket client for the load generator: a raw TCP socket, a fixed
// HTTP upgrade request, frames written as pre-built (pre-masked) buffers, and a streaming
// reader that counts incoming messages, keeping only their first bytes. It costs the generator
// far less CPU per message than a full `ws` client, so on a 2-core machine the server, not the
// generator, is what limits the closed loop. The server sees ordinary masked client frames.
import net from 'node:net'
import { randomBytes } from 'node:crypto'

const OP_TEXT = 0x1
const OP_CLOSE = 0x8
const OP_PING = 0x9

/**
 * A client frame (FIN set, masked) with `payload` ready to write as it is, as many times as needed.
 * @param {Buffer|string} payload
 * @param {number} opcode 1 text, 9 ping, 10 pong, 8 close
 */
export function maskedFrame (payload, opcode = OP_TEXT) {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const len = data.length
  const extra = len < 126 ? 0 : len < 65536 ? 2 : 8
  const frame = Buffer.allocUnsafe(2 + extra + 4 + len)
  frame[0] = 0x80 | opcode
  if (extra === 0) {
    frame[1] = 0x80 | len
  } else if (extra === 2) {
    frame[1] = 0x80 | 126
    frame.writeUInt16BE(len, 2)
  } else {
    frame[1] = 0x80 | 127
    frame.writeBigUInt64BE(BigInt(len), 2)
  }
  const maskAt = 2 + extra
  const mask = randomBytes(4)
  mask.copy(frame, maskAt)
  const payloadAt = maskAt + 4
  for (let i = 0; i < len; i++) frame[payloadAt + i] = data[i] ^ mask[i & 3]
  return frame
}

const sdpLines = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0',
  'a=group:BUNDLE 0 1', 'a=extmap-allow-mixed', 'a=msid-semantic: WMS stream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126', 'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0', 'a=ice-ufrag:Xq3v', 'a=ice-pwd:9mkLgD7y0Yx2sHq6Pj5fTq1n',
  'a=ice-options:trickle', 'a=fingerprint:sha-256 3C:4A:AC:7E:19:2B:8D:E5:91:0F:6C:22:AB:47:D1:90:58:E3:7A:BC:11:F2:64:03:9D:CE:85:6B:20:47:F9:1E',
  'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=ssrc:1001 cname:bench',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101', 'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb',
  'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96',
  'a=candidate:1 1 udp 2122260223 192.168.1.20 54321 typ host generation 0 network-id 1'
]

/**
 * JSON text of exactly `bytes` bytes (ASCII): `head`, an SDP-like offer's text, `tail`.
 * @param {number} bytes
 * @param {string} head e.g. '{"method":"NOTIFY","data":{"type":"offer","sdp":"'
 * @param {string} tail e.g. '"}}'
 */
export function offerText (bytes, head, tail) {
  const room = bytes - head.length - tail.length
  if (room < 1) throw new Error(`a frame with ${head}...${tail} cannot be ${bytes} bytes`)
  let sdp = ''
  for (let i = 0; sdp.length < room; i++) sdp += sdpLines[i % sdpLines.length] + '\\r\\n'
  sdp = sdp.slice(0, room)
  // Do not cut an escape in half: `\` at the end would escape the closing quote.
  if (sdp.endsWith('\\')) sdp = sdp.slice(0, -1) + 'x'
  const text = head + sdp + tail
  JSON.parse(text)
  return text
}

/**
 * The text of a NOTIFY frame carrying an SDP-like offer, exactly `bytes` bytes long (ASCII).
 * @param {number} bytes at least 60
 */
export function notifyText (bytes) {
  return offerText(bytes, '{"method":"NOTIFY","data":{"type":"offer","sdp":"', '"}}')
}

/**
 * What a peer expects to receive.
 * @typedef {object} Expect
 * @property {Buffer} relayed how a relayed frame starts
 * @property {number} [length] a relayed frame's exact length, when it is known in advance
 * @property {Buffer[]} notices how the server's own notices start (PeerJS's OPEN, a group
 *   room's ROOM and PRESENCE): counted apart, neither relayed nor unexpected
 */

/**
 * An expectation, from strings.
 * @param {{relayed: string, length?: number, notices?: string[]}} spec
 * @returns {Expect}
 */
export function expecting ({ relayed, length, notices = [] }) {
  return { relayed: Buffer.from(relayed), length, notices: notices.map(n => Buffer.from(n)) }
}

// Bytes kept of the start of each message: enough to tell what it is, and to show it when it
// is not what was expected.
const peekBytes = 256

/**
 * One peer: a raw WebSocket connection. Calls `onText(peer)` for each relayed message (as
 * `expect` describes it); counts the server's notices; keeps the start of anything else (up to
 * 256 bytes of a few of them) so that the caller can report what the server sent instead.
 */
export class RawPeer {
  /**
   * @param {{host: string, port: number}} server
   * @param {string} path e.g. /call/abc
   * @param {Expect} expect what a relayed frame and a notice look like
   */
  constructor (server, path, expect) {
    this.server = server
    this.path = path
    this.expect = expect
    this.socket = null
    /** 0 new, 1 handshaking, 2 open, 3 closed */
    this.state = 0
    this.onText = null
    /** The server's own notices received (PeerJS's OPEN, a group room's ROOM and PRESENCE). */
    this.notices = 0
    /** Messages that were neither relayed frames nor notices (the first few kept). */
    this.unexpected = 0
    this.unexpectedSamples = []
    this.closeCode = undefined
    this.errorMessage = undefined
    // Reader state.
    this.hdr = Buffer.alloc(14)
    this.hdrLen = 0
    this.need = 0
    this.opcode = 0
    this.fin = false
    this.msgLen = 0
    this.control = null
    this.controlAt = 0
    this.controlOpcode = 0
    this.peek = null
    this.peekAt = 0
    this.handshakeBuf = null
    // Pacing: a token bucket, so that a small closed loop stays under the server's rate limit.
    this.tokens = 0
    this.refilledAt = 0
    this.rate = 0
    this.burst = 0
    this.waiting = 0
    this.paceTimer = null
    this.paced = 0
    this.frame = null
  }

  /**
   * Opens the connection and completes the upgrade.
   * @returns {Promise<void>} resolved at HTTP 101, rejected otherwise
   */
  connect () {
    return new Promise((resolve, reject) => {
      this.state = 1
      const key = randomBytes(16).toString('base64')
      const { host, port } = this.server
      const request = `GET ${this.path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
      const socket = net.connect({ host, port, noDelay: true })
      this.socket = socket
      let settled = false
      const fail = (message) => {
        if (settled) return
        settled = true
        this.errorMessage = message
        socket.destroy()
        reject(new Error(message))
      }
      socket.on('connect', () => socket.write(request))
      socket.on('error', err => {
        this.errorMessage ??= err.code ?? err.message
        fail(err.code ?? err.message)
      })
      socket.on('close', () => {
        this.state = 3
        clearTimeout(this.paceTimer)
        fail('closed during the handshake')
      })
      socket.on('data', chunk => {
        if (this.state === 2) return this.read(chunk, 0)
        this.handshakeBuf = this.handshakeBuf === null ? chunk : Buffer.concat([this.handshakeBuf, chunk])
        const end = this.handshakeBuf.indexOf('\r\n\r\n')
        if (end === -1) {
          if (this.handshakeBuf.length > 8192) fail('oversized handshake response')
          return
        }
        const head = this.handshakeBuf.toString('latin1', 0, end)
        const rest = this.handshakeBuf.subarray(end + 4)
        this.handshakeBuf = null
        const status = /^HTTP\/1\.1 (\d{3})/.exec(head)
        if (status === null || status[1] !== '101') return fail(`HTTP ${status === null ? '?' : status[1]}`)
        this.state = 2
        this.peek = Buffer.allocUnsafe(peekBytes)
        settled = true
        resolve()
        if (rest.length > 0) this.read(rest, 0)
      })
    })
  }

  /** Sets the frame `send()` writes and the pacing (frames per second, bucket size; 0: none). */
  setFrame (frame, rate, burst) {
    this.frame = frame
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.refilledAt = performance.now()
  }

  /** Writes the frame now, or as soon as the pacing allows. */
  send () {
    if (this.state !== 2) return
    if (this.rate > 0) {
      const now = performance.now()
      const tokens = this.tokens + (now - this.refilledAt) * this.rate / 1000
      this.tokens = tokens < this.burst ? tokens : this.burst
      this.refilledAt = now
      if (this.tokens < 1 || this.waiting > 0) {
        this.waiting++
        this.paced++
        if (this.paceTimer === null) this.schedule()
        return
      }
      this.tokens -= 1
    }
    this.socket.write(this.frame)
  }

  schedule () {
    const delay = Math.max(1, (1 - this.tokens) * 1000 / this.rate)
    this.paceTimer = setTimeout(() => {
      this.paceTimer = null
      if (this.state !== 2) return
      const now = performance.now()
      this.tokens = Math.min(this.burst, this.tokens + (now - this.refilledAt) * this.rate / 1000)
      this.refilledAt = now
      while (this.waiting > 0 && this.tokens >= 1) {
        this.waiting--
        this.tokens -= 1
        this.socket.write(this.frame)
      }
      if (this.waiting > 0) this.schedule()
    }, delay)
  }

  /** Writes raw bytes (e.g. a frame this peer sends once). */
  write (bytes) {
    if (this.state === 2) this.socket.write(bytes)
  }

  /** Drops the connection at once (the server sees the peer leave). */
  destroy () {
    clearTimeout(this.paceTimer)
    this.paceTimer = null
    if (this.socket !== null) this.socket.destroy()
    this.state = 3
  }

  // The streaming frame reader: header bytes are gathered one by one (2 to 10 of them); of a
  // message's payload only its first bytes are kept (to tell what it is), of a control frame
  // all of it. Relayed frames may differ in length from the ones sent (a group room's `from`,
  // PeerJS's `src`): they are told by how they start.
  read (chunk, i) {
    const n = chunk.length
    while (i < n) {
      if (this.need > 0) {
        const take = this.need < n - i ? this.need : n - i
        if (this.control !== null) {
          this.controlAt += chunk.copy(this.control, this.controlAt, i, i + take)
        } else if (this.peekAt < peekBytes) {
          this.peekAt += chunk.copy(this.peek, this.peekAt, i, i + Math.min(take, peekBytes - this.peekAt))
        }
        i += take
        this.need -= take
        if (this.need === 0) this.frameDone()
        continue
      }
      const hdr = this.hdr
      hdr[this.hdrLen++] = chunk[i++]
      if (this.hdrLen < 2) continue
      const b1 = hdr[1] & 0x7f
      const hdrSize = b1 < 126 ? 2 : b1 === 126 ? 4 : 10
      if (this.hdrLen < hdrSize) continue
      const len = b1 < 126 ? b1 : b1 === 126 ? hdr.readUInt16BE(2) : Number(hdr.readBigUInt64BE(2))
      this.hdrLen = 0
      this.fin = (hdr[0] & 0x80) !== 0
      const opcode = hdr[0] & 0x0f
      if (opcode >= 8) {
        this.control = Buffer.alloc(len)
        this.controlAt = 0
        this.controlOpcode = opcode
      } else {
        // A continuation frame adds to the message; any other data frame starts one.
        if (opcode !== 0) {
          this.opcode = opcode
          this.msgLen = 0
          this.peekAt = 0
        }
        this.msgLen += len
      }
      this.need = len
      if (len === 0) this.frameDone()
    }
  }

  frameDone () {
    if (this.control !== null) {
      const payload = this.control
      this.control = null
      if (this.controlOpcode === OP_CLOSE) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005
      } else if (this.controlOpcode === OP_PING) {
        this.write(maskedFrame(payload, 0xA))
      }
      return
    }
    if (!this.fin) return
    const e = this.expect
    if (this.opcode === OP_TEXT) {
      if ((e.length === undefined || this.msgLen === e.length) && this.startsWith(e.relayed)) {
        this.onText(this)
        return
      }
      for (const notice of e.notices) {
        if (this.startsWith(notice)) {
          this.notices++
          return
        }
      }
    }
    this.unexpected++
    if (this.unexpectedSamples.length < 3) {
      this.unexpectedSamples.push(`${this.opcode === OP_TEXT ? 'text' : `opcode ${this.opcode}`}, ${this.msgLen} bytes: ${this.peek.toString('utf8', 0, this.peekAt)}`)
    }
  }

  startsWith (prefix) {
    return this.peekAt >= prefix.length && this.peek.compare(prefix, 0, prefix.length, 0, prefix.length) === 0
  }
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` at a time.
 * @returns {Promise<number>} how many failed
 */
export async function pool (count, concurrency, task) {
  let next = 0
  let failed = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      try {
        await task(i)
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return failed
}
