// Runs every benchmark in turn, each in its own Node process (so one's children, heap and JIT state never
// touch the next), then writes bench/RESULTS.md. `npm run bench` at the root runs this.
// node bench/run-all.mjs [--smoke]
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { benchFlags } from './lib/results.mjs'

const BENCHMARKS = ['bundle-size', 'fanout', 'idle-memory', 'client-receive', 'reconnect-storm', 'scale-out']
const { smoke } = benchFlags()
const flags = smoke ? ['--smoke'] : []
// A benchmark that hangs past its own deadline is cut here.
const LIMIT_MS = smoke ? 90_000 : 20 * 60_000

function runOne(name) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL(`${name}.mjs`, import.meta.url)), ...flags],
      {
        stdio: 'inherit',
      },
    )
    const timer = setTimeout(() => {
      console.error(`[bench] ${name} exceeded ${LIMIT_MS / 1000} s; killing it`)
      child.kill('SIGKILL')
    }, LIMIT_MS)
    const stop = () => child.kill('SIGKILL')
    process.on('exit', stop)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      process.off('exit', stop)
      resolve(code === 0 ? 'ok' : `failed (${signal ?? `exit ${code}`})`)
    })
  })
}

const startedAt = Date.now()
const outcomes = []
for (const name of BENCHMARKS) {
  console.log(`\n=== ${name}${smoke ? ' (smoke)' : ''} ===`)
  outcomes.push([name, await runOne(name)])
}
if (!smoke) {
  const { renderReport } = await import('./report.mjs')
  await renderReport()
}
console.log(`\n=== done in ${Math.round((Date.now() - startedAt) / 1000)} s ===`)
for (const [name, outcome] of outcomes) console.log(`${name}: ${outcome}`)
process.exitCode = outcomes.every(([, o]) => o === 'ok') ? 0 : 1
