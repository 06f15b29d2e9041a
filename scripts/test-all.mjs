#!/usr/bin/env node
// `npm test`: every check CI runs, in order: system dependencies (Chromium; redis-server, redis-cli and
// nginx, whose tests are skipped locally without them and fail CI), build, lint, types, unit and integration
// tests, end-to-end tests in Chromium, size budget. Ends with one "N passed, N failed" line.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const resultsDir = join(root, '.test-results')
rmSync(resultsDir, { recursive: true, force: true })
mkdirSync(resultsDir, { recursive: true })
const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', HOLDFAST_RESULTS_DIR: resultsDir }

function which(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim()
}

const chromium = process.env.CHROMIUM_PATH ?? (which('chromium') || '/usr/bin/chromium')
if (!existsSync(chromium)) {
  console.error(
    '[test] Chromium is missing: end-to-end tests run in real Chromium.\n' +
      '       Install it with: sudo apt-get update && sudo apt-get install -y chromium\n' +
      '       (or point CHROMIUM_PATH at any Chromium binary)',
  )
  process.exit(1)
}
env.CHROMIUM_PATH = chromium
if (!which('redis-server') || !which('redis-cli')) {
  const line =
    '[test] redis-server or redis-cli is missing: the Redis and Redis Cluster tests will be skipped. Install them with: sudo apt-get install -y redis-server'
  if (process.env.CI) {
    console.error(`${line}\n[test] CI must run them: failing.`)
    process.exit(1)
  }
  console.warn(line)
}
// The nginx suite (e2e/tests/nginx.spec.ts) runs Debian's nginx in front of the server, as docs/proxies.md shows.
const nginx = process.env.NGINX_BIN ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : which('nginx'))
if (!nginx) {
  const line =
    '[test] nginx is missing: the nginx tests (docs/proxies.md behind real nginx) will be skipped. Install it with: sudo apt-get install -y nginx'
  if (process.env.CI) {
    console.error(`${line}\n[test] CI must run them: failing.`)
    process.exit(1)
  }
  console.warn(line)
} else env.NGINX_BIN = nginx

const steps = [
  ['build', ['npx', 'turbo', 'run', 'build', '--output-logs=errors-only']],
  ['lint', ['npx', 'biome', 'check', '.']],
  ['typecheck', ['npx', 'turbo', 'run', 'typecheck', '--output-logs=errors-only', '--continue']],
  ['package contract (publint, are-the-types-wrong)', ['node', 'scripts/check-packages.mjs']],
  ['README and docs code blocks type-check', ['node', 'scripts/check-snippets.mjs']],
  ['unit and integration tests', ['npx', 'turbo', 'run', 'test', '--concurrency=1', '--continue']],
  ['end-to-end tests (Chromium)', ['npx', 'turbo', 'run', 'e2e', '--concurrency=1']],
  ['size budget', ['npx', 'size-limit']],
  // Keeps every benchmark working; figures are printed, never asserted.
  ['benchmark smoke', ['npm', 'run', 'bench:smoke', '--workspace', 'bench']],
]

const failedSteps = []
for (const [name, [cmd, ...args]] of steps) {
  if (name === 'size budget' && !existsSync(join(root, '.size-limit.cjs'))) continue
  console.log(`\n[test] ── ${name} ──`)
  const started = Date.now()
  const run = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env })
  console.log(
    `[test] ${name}: ${run.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  )
  if (run.status !== 0) failedSteps.push(name)
}

// Each vitest and Playwright run writes a JSON report here; add them up for the closing line.
let passed = 0
let failed = 0
let skipped = 0
for (const file of readdirSync(resultsDir).filter((f) => f.endsWith('.json'))) {
  const report = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'))
  if (report.stats && 'expected' in report.stats) {
    passed += report.stats.expected
    failed += report.stats.unexpected + (report.stats.flaky ?? 0)
    skipped += report.stats.skipped
  } else {
    passed += report.numPassedTests ?? 0
    failed += report.numFailedTests ?? 0
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
  }
}
if (failedSteps.length > 0) console.error(`\n[test] failed steps: ${failedSteps.join(', ')}`)
if (passed === 0) {
  console.error('[test] no test results were recorded')
  failedSteps.push('results')
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failedSteps.length > 0 || failed > 0 ? 1 : 0)
