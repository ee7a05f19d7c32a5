// Talks to a server's V8 inspector (the server was started with --inspect=127.0.0.1:0) to
// collect garbage before reading its RSS and to read its heap usage: the same for every server,
// and no bench hook inside any of them.
import WebSocket from 'ws'

/** Pattern of the line node prints on stderr when the inspector listens. */
export const inspectorLine = /Debugger listening on (ws:\/\/\S+)/

/**
 * Sends inspector commands in order over one session.
 * @param {string} url the ws:// URL the server printed
 * @param {Array<{method: string, params?: object}>} commands
 * @returns {Promise<object[]>} the results
 */
export async function inspect (url, commands) {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  try {
    const results = []
    let id = 0
    for (const command of commands) {
      const myId = ++id
      const result = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector: ${command.method} timed out`)), 30000)
        const onMessage = data => {
          const msg = JSON.parse(data.toString())
          if (msg.id !== myId) return
          clearTimeout(timer)
          ws.off('message', onMessage)
          if (msg.error !== undefined) reject(new Error(`inspector: ${command.method}: ${msg.error.message}`))
          else resolve(msg.result)
        }
        ws.on('message', onMessage)
        ws.send(JSON.stringify({ id: myId, method: command.method, params: command.params ?? {} }))
      })
      results.push(result)
    }
    return results
  } finally {
    ws.close()
  }
}

/**
 * Collects garbage in each server process (twice, so that weak references and finalizers
 * settle) and reads its heap usage.
 * @returns {Promise<number>} the summed used heap in bytes
 */
export async function collectGarbage (urls) {
  let used = 0
  for (const url of urls) {
    const results = await inspect(url, [
      { method: 'HeapProfiler.collectGarbage' },
      { method: 'HeapProfiler.collectGarbage' },
      { method: 'Runtime.getHeapUsage' }
    ])
    used += results[2].usedSize
  }
  return used
}
