#!/usr/bin/env node
// `npm run demo`: build everything, then start the reference server (in-memory broker) serving the demo app.
import { spawn, spawnSync } from 'node:child_process'

const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1' }
const build = spawnSync(
  'npx',
  ['turbo', 'run', 'build', '--filter=@holdfast/demo...', '--output-logs=errors-only'],
  {
    stdio: 'inherit',
    env,
  },
)
if (build.status !== 0) process.exit(build.status ?? 1)
const server = spawn(process.execPath, ['apps/demo/server.mjs', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill(signal))
server.on('exit', (code) => process.exit(code ?? 0))
