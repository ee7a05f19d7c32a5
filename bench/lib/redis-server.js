// A throwaway redis-server for the bench and the attack bench: no persistence, loopback only,
// on a port below the ephemeral range.
import { spawn } from 'node:child_process'
import net from 'node:net'

/** A free port on 127.0.0.1 between 20000 and 32000 (below the ephemeral ports that sockets in TIME_WAIT hold). */
export async function lowPort () {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    const free = await new Promise(resolve => {
      const probe = net.createServer()
      probe.once('error', () => resolve(false))
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free port between 20000 and 32000 on 127.0.0.1')
}

/**
 * Starts redis-server and waits until it accepts connections.
 * @param {object} [options]
 * @param {string} [options.binary] the redis-server to run (default: the one on the PATH)
 * @param {string} [options.cpus] a taskset CPU list to run it on
 * @returns {Promise<{ pid: number, url: string, command: string, child: import('node:child_process').ChildProcess }>}
 */
export async function startRedisServer ({ binary = 'redis-server', cpus } = {}) {
  const port = await lowPort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const [file, argv] = cpus === undefined ? [binary, args] : ['taskset', ['-c', cpus, binary, ...args]]
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after 10 s\n${out}`)), 10000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', chunk => {
      out += chunk
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer)
        child.stdout.resume()
        resolve()
      }
    })
    child.once('error', reject)
    child.once('exit', code => reject(new Error(`redis-server exited (${code})\n${out}`)))
  })
  return { pid: child.pid, url: `redis://127.0.0.1:${port}`, command: [file, ...argv.map(a => a === '' ? "''" : a)].join(' '), child }
}
