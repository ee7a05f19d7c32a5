import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { Test } from 'tap'

/** How else to start a server (a node of a cluster). */
export interface RedisServerSetup {
  /** Picks the port; by default any free one. */
  port?: () => Promise<number>
  /** More arguments for redis-server, given its port. */
  args?: (port: number) => string[]
}

/** A real redis-server on a free loopback port, without persistence. */
export class RedisServer {
  private child: ChildProcess | undefined

  private constructor (readonly port: number, private readonly args: string[]) {}

  /** redis://127.0.0.1:PORT */
  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** Starts a server on a free port; stopped when the test ends. */
  static async start (t: Test, setup: RedisServerSetup = {}): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      const port = await (setup.port ?? freePort)()
      const server = new RedisServer(port, setup.args?.(port) ?? [])
      try {
        await server.run()
        t.teardown(() => server.stop())
        return server
      } catch (err) {
        // Another process took the port between the probe and redis-server binding it.
        if (attempt === 5) throw err
      }
    }
  }

  /** Stops the server (its data goes with it: nothing is saved). */
  async stop (): Promise<void> {
    const child = this.child
    this.child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
  }

  /**
   * Freezes the server (SIGSTOP): its connections stay open and nothing is answered, as with
   * a hung Redis. Resumed when the test ends, so that it can be stopped.
   */
  pause (): void {
    this.signal('SIGSTOP')
  }

  /** Lets a paused server run again (SIGCONT), with its data. */
  resume (): void {
    this.signal('SIGCONT')
  }

  /** Starts the server again on the same port, empty. */
  async restart (): Promise<void> {
    await this.stop()
    await this.run()
  }

  private signal (signal: NodeJS.Signals): void {
    if (this.child === undefined || !this.child.kill(signal)) throw new Error(`redis-server is not running (${signal})`)
  }

  private async run (): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', ...this.args
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += String(chunk)
        if (output.includes('Ready to accept connections')) {
          child.stdout.off('data', onData)
          resolve()
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      child.once('error', reject)
      child.once('exit', code => reject(new Error(`redis-server exited with ${String(code)}: ${output}`)))
    })
    child.stdout.resume()
    child.stderr.resume()
  }
}

/** Listens on `port` at 127.0.0.1 and stops at once: resolves with the port (for 0, a free one the system picks), rejects when it is taken. */
export async function freePort (port = 0): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
