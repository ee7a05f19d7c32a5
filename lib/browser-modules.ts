import { readFile } from 'node:fs/promises'
import { moduleFolder } from '#module-folder'

/**
 * The browser client's ES modules, by the name the plugin serves each under (`serveClient`):
 * the entry point, and every module it imports (relative imports: they resolve next to it).
 */
export const browserModules = ['client.js', 'client-notify.js', 'client-call.js', 'client-peer.js', 'wire.js'] as const

/** Reads the built browser modules (once, at registration: they never change while serving). */
export async function readBrowserModules (): Promise<Map<string, Buffer>> {
  const files = await Promise.all(browserModules.map(async name => [name, await readFile(new URL(name, moduleFolder))] as const))
  return new Map(files)
}
