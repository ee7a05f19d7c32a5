import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const launcher = fileURLToPath(new URL('../../bin/rtc-notify.js', import.meta.url))

/** A standalone server running as a child process. */
export interface StandaloneServer {
  /** The URL it printed, e.g. `http://127.0.0.1:40123/`. */
  url: string
  port: number
  /** Everything it wrote to stderr so far (for failure messages). */
  stderr (): string
  /** Sends SIGTERM and waits for the process to exit. */
  stop (): Promise<void>
}

/**
 * Starts `bin/rtc-notify.js` on a free port of 127.0.0.1 (run `npx tsc` first: it runs dist/).
 * @param flags more command line flags
 * @returns once it printed the URL it listens on
 */
export async function startServer (flags: string[] = []): Promise<StandaloneServer> {
  const child = spawn(process.execPath, [launcher, '-l', 'tcp:127.0.0.1:0', '-q', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', chunk => { stderr += chunk })
  const exited = once(child, 'exit')
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', chunk => {
      stdout += chunk
      const printed = /rtc-notify listening on (http:\/\/\S+)/.exec(stdout)
      if (printed !== null) resolve(printed[1])
    })
    exited.then(([code]) => reject(new Error(`rtc-notify exited with ${code} before listening: ${stderr}`)), reject)
  })
  return {
    url,
    port: Number(new URL(url).port),
    stderr: () => stderr,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}
