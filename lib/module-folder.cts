// The CommonJS build's twin of module-folder.ts: "#module-folder" is this file in dist/cjs/package.json's
// "imports", module-folder.js in the package's own. This file is dist/cjs/module-folder.cjs.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

/** The folder of the built ES modules (dist/), for files read beside them. */
export const moduleFolder: URL = pathToFileURL(join(__dirname, '..') + '/')
