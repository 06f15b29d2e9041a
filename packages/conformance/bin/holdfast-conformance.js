#!/usr/bin/env node
// Committed rather than built: npm links a package's bins when it installs it, and in a fresh clone
// `npm ci` runs before anything is built, so a bin pointing into dist/ would never be linked.
import { existsSync } from 'node:fs'

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  console.error('holdfast-conformance: not built yet; run `npm run build` at the repository root first.')
  process.exit(1)
}
await import(cli.href)
