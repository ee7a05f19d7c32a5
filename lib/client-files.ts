import { access, readFile } from 'node:fs/promises'

/**
 * The browser client's ES modules, by the name the plugin serves each under (`serveClient`):
 * the entry point, and every module it imports (relative imports: they resolve next to it).
 */
export const browserModules = ['client.js', 'wire.js'] as const

/** Reads the built browser modules (read once, at registration: they never change while serving). */
export async function readBrowserModules (): Promise<Map<string, Buffer>> {
  const folder = await builtFolder()
  const files = await Promise.all(browserModules.map(async name => [name, await readFile(new URL(name, folder))] as const))
  return new Map(files)
}

// Beside this module once built (dist/); when this module runs from its TypeScript source (the
// tests), the build is in ../dist/.
async function builtFolder (): Promise<URL> {
  const here = new URL('./', import.meta.url)
  try {
    await access(new URL(browserModules[0], here))
    return here
  } catch {
    return new URL('../dist/', import.meta.url)
  }
}
