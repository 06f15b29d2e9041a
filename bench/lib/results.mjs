// Where figures go: bench/results/<name>.json (smoke runs: bench/results/smoke/, never committed).
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url))

/** Command-line flags shared by every benchmark. `--smoke`: tiny counts, a minute at most, for CI. */
export function benchFlags(argv = process.argv.slice(2)) {
  return { smoke: argv.includes('--smoke') }
}

/** Node version, CPU model (from /proc/cpuinfo where it exists), core count, memory. */
export async function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown'
  try {
    const info = await readFile('/proc/cpuinfo', 'utf8')
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpu
  } catch {
    // not Linux: os.cpus() is as good as it gets
  }
  let virtualization = 'none detected'
  try {
    const info = await readFile('/proc/cpuinfo', 'utf8')
    if (/^flags\s*:.*\bhypervisor\b/m.test(info)) virtualization = 'virtual machine'
    if ((await readFile('/proc/cmdline', 'utf8')).includes('firecracker'))
      virtualization = 'Firecracker microVM'
  } catch {
    virtualization = 'unknown'
  }
  return {
    node: process.version,
    cpu,
    virtualization,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
  }
}

/** Writes `{ name, command, date, machine, smoke, ...data }` and returns the path. */
export async function writeResult(name, { smoke, command, data }) {
  const dir = smoke ? `${RESULTS_DIR}smoke/` : RESULTS_DIR
  await mkdir(dir, { recursive: true })
  const path = `${dir}${name}.json`
  const record = {
    name,
    command,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: await machine(),
    smoke,
    ...data,
  }
  await writeFile(path, `${JSON.stringify(record, null, 2)}\n`)
  return path
}

/** HEAD's short hash, with "+dirty" when packages/ has uncommitted changes (the dist measured may differ). */
function gitCommit() {
  try {
    const opts = { cwd: RESULTS_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '../../packages'], opts).trim()
    return dirty ? `${head}+dirty` : head
  } catch {
    return 'unknown'
  }
}

/** Reads a result written by `writeResult`, or undefined when that benchmark has not run. */
export async function readResult(name) {
  try {
    return JSON.parse(await readFile(`${RESULTS_DIR}${name}.json`, 'utf8'))
  } catch {
    return undefined
  }
}

/** The command that reproduces this run, as typed from the repository root. */
export function commandLine(script) {
  const flags = process.argv.slice(2).join(' ')
  return `node bench/${script}${flags ? ` ${flags}` : ''}`
}

/** A Markdown table from a header row and rows of cells, columns padded as Biome formats them. */
export function markdownTable(header, rows) {
  const widths = header.map((h, i) =>
    Math.max(3, ...[h, ...rows.map((r) => r[i] ?? '')].map((c) => String(c).length)),
  )
  const line = (cells) => `| ${cells.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ')} |`
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** Prints a table to the terminal (the same Markdown, readable as text). */
export function printTable(title, header, rows) {
  console.log(`\n${title}\n${markdownTable(header, rows)}\n`)
}

/** 12345 -> "12,345"; keeps decimals for small numbers. */
export function num(value, decimals = 0) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a'
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

/** True when the module at `importMetaUrl` is the script Node was started with (not imported by run-all). */
export function isMain(importMetaUrl) {
  return process.argv[1] !== undefined && fileURLToPath(importMetaUrl) === process.argv[1]
}

/**
 * Runs a benchmark when its file is executed directly (`node bench/<name>.mjs [--smoke]`). A row that could
 * not be measured fails the run, so CI's smoke notices; timings never do. A full run refreshes RESULTS.md.
 */
export async function runIfMain(importMetaUrl, run) {
  if (!isMain(importMetaUrl)) return
  const flags = benchFlags()
  const rows = await run(flags)
  if (rows.some((r) => r.error)) process.exitCode = 1
  const { renderReport } = await import('../report.mjs')
  if (!flags.smoke) await renderReport()
}

/**
 * With HOLDFAST_BASELINE_SERVER=<path to another build's dist/index.js>, the Holdfast rows are measured a
 * second time against that build, in the same run, and a before/after table is printed (the figures a
 * change must keep within 5%).
 */
export function withBaseline(configs) {
  if (!process.env.HOLDFAST_BASELINE_SERVER) return configs
  const extra = configs
    .filter((c) => c.server === 'holdfast')
    .map((c) => ({
      ...c,
      id: `${c.id}-baseline`,
      label: `${c.label} (baseline build)`,
      server: 'holdfast-baseline',
      baselineOf: c.id,
    }))
  return [...configs, ...extra]
}

/** Rows `{ label, metric, before, after, ratio }` for every Holdfast config that has a baseline row. */
export function beforeAfter(rows, metrics) {
  const out = []
  for (const row of rows) {
    if (!row.baselineOf) continue
    const current = rows.find((r) => r.id === row.baselineOf)
    if (!current || current.error || row.error) continue
    for (const [key, name] of metrics)
      out.push({
        label: current.label,
        metric: name,
        before: row[key],
        after: current[key],
        ratio: current[key] / row[key],
      })
  }
  return out
}
