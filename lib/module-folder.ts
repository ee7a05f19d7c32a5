/** The folder of the built ES modules (dist/), for files read beside them. */
export const moduleFolder: URL = new URL('./', import.meta.url)
