#!/usr/bin/env node
// The package contract as code: publint and are-the-types-wrong on every published package.
import { spawnSync } from 'node:child_process'

const packages = ['protocol', 'client', 'react', 'testing', 'server', 'webhooks', 'conformance']
let failed = 0
for (const name of packages) {
  const dir = `packages/${name}`
  for (const [tool, args] of [
    ['publint', ['publint', dir, '--strict']],
    // node16 profile: the CJS and ESM conditions must each resolve to matching types; node10 predates `exports`.
    ['attw', ['attw', '--pack', dir, '--profile', 'node16', '--format', 'table-flipped']],
  ]) {
    const run = spawnSync('npx', args, { encoding: 'utf8' })
    const ok = run.status === 0
    if (!ok) failed++
    console.log(`[packages] ${tool} @holdfast/${name}: ${ok ? 'ok' : 'FAILED'}`)
    if (!ok) console.log(run.stdout + run.stderr)
  }
}
process.exit(failed > 0 ? 1 : 0)
