// Shutdown (docs/protocol.md#shutdown): every peer hears 1001 and close() finishes, also when
// shutdown begins in the middle of a handshake.
import t from 'tap'
import WebSocket from 'ws'
import { join, sleep } from './helpers/client.js'
import { freshRoom, startServer } from './helpers/server.js'
import { MemoryStore } from '../lib/index.js'

/** A store whose seats take a while, as a remote store's do. */
class SlowSeats extends MemoryStore {
  override async reserve (...args: Parameters<MemoryStore['reserve']>): ReturnType<MemoryStore['reserve']> {
    await sleep(300)
    return await super.reserve(...args)
  }
}

t.test('shutdown between a seat being taken and its socket opening: the socket is closed 1001, a bad frame from it harms nothing', async t => {
  for (let round = 0; round < 2; round++) {
    const server = await startServer(t, { store: new SlowSeats() })
    // A peer that does not answer the close handshake holds shutdown open for a while, long
    // enough for the handshake below to get its seat and its socket.
    const stubborn = await join(server.room(freshRoom()))
    ;(stubborn.socket as WebSocket & { _socket: { pause: () => void } })._socket.pause()
    const socket = new WebSocket(server.room(freshRoom()))
    const outcome = new Promise<number>(resolve => {
      socket.on('open', () => socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }))
      socket.on('close', code => resolve(code))
      socket.on('error', () => resolve(-1))
    })
    await sleep(100) // the handshake is waiting for its seat
    const closed = server.app.close()
    await closed
    const code = await outcome
    t.equal(code, 1001, `round ${round}: the socket opened and was closed with 1001; the bad frame after it harmed nothing`)
  }
})
