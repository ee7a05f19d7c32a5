import { readFile } from 'node:fs/promises'
import { parseCli, usage, UsageError, type CliConfig } from './cli-options.js'
import { buildServer } from './server.js'

// After SIGINT/SIGTERM, the process exits even if closing hangs.
const shutdownTimeoutMs = 5000

/**
 * Runs the standalone server.
 * @returns the exit code when the server does not start (2: bad command line, 1: failure);
 *   a running server exits 0 on SIGINT/SIGTERM
 */
export async function main (argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  let config: CliConfig
  try {
    const request = parseCli(argv, env)
    if (request.help) {
      process.stdout.write(usage + '\n')
      return 0
    }
    config = request.config
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    return usageFailure(err.message)
  }

  let tls
  if (config.transport === 'tls') {
    try {
      tls = { cert: await readFile(config.certfile!), key: await readFile(config.keyfile!) }
    } catch (err) {
      return usageFailure(`cannot read the TLS certificate or key: ${(err as Error).message}`)
    }
  }
  const app = await buildServer(config, tls)
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    process.stderr.write(`rtc-notify: cannot listen on ${config.host}:${config.port}: ${(err as Error).message}\n`)
    await app.close()
    return 1
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.port
  const url = `${config.transport === 'tls' ? 'https' : 'http'}://${config.host}:${port}/`
  const hint = config.demo ? `Open ${url} in a browser tab to start a call, then open the link it shows in another.\n` : ''
  process.stdout.write(`rtc-notify listening on ${url}\n${hint}`)

  const stop = (signal: string): void => {
    app.log.info({ signal }, 'shutting down')
    setTimeout(() => process.exit(0), shutdownTimeoutMs).unref()
    app.close().then(() => process.exit(0), err => {
      app.log.error({ err }, 'error while shutting down')
      process.exit(0)
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return undefined
}

function usageFailure (message: string): number {
  process.stderr.write(`rtc-notify: ${message}\nTry 'rtc-notify --help' for more information.\n`)
  return 2
}

/** The entry point of bin/rtc-notify.js. */
export function run (): void {
  main(process.argv.slice(2), process.env).then(code => {
    if (code !== undefined) process.exitCode = code
  }, err => {
    process.stderr.write(`rtc-notify: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
