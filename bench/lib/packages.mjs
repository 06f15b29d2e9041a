// Versions of the libraries measured, read from the installed package.json files.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const ROOTS = ['../node_modules/', '../../node_modules/'].map((p) =>
  fileURLToPath(new URL(p, import.meta.url)),
)

/** The installed version of `name`, or 'missing'. */
export function versionOf(name) {
  for (const root of ROOTS) {
    try {
      return JSON.parse(readFileSync(`${root}${name}/package.json`, 'utf8')).version
    } catch {
      // try the next node_modules
    }
  }
  return 'missing'
}
