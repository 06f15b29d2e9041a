#!/usr/bin/env node
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { listChecks } from './checks'
import { formatReport, formatTotals } from './formatReport'
import type { ConformanceOptions } from './options'
import { ConformanceSetupError, runConformance } from './runConformance'

const USAGE = `Usage: holdfast-conformance <base-url> [options]

Checks a server against the Holdfast wire protocol (docs/PROTOCOL.md) over WebSocket, SSE, long polling
and POST /publish, and prints pass / FAIL / not run per protocol section. Failures say what was expected
and what came back.

  --token T                 a token the server accepts, allowed to subscribe and publish (or HOLDFAST_TOKEN)
  --secret S                the server's HS256 secret: the kit mints its own tokens and also runs the
                            token lifecycle checks (or HOLDFAST_SECRET, which keeps it out of ps)
  --drain-command CMD       shell command that starts the server's drain, e.g. "kill -TERM 1234";
                            runs the §7 checks, last (the server is gone afterwards)
  --refused-origin O        an Origin the server refuses, e.g. https://evil.example
  --connection-rate-burst N the burst of the server's connection rate limit; runs the rate-limit check,
                            which opens N + 2 connections at once (run it alone: --only errors.rate-limited)
  --handshake-timeout-ms N  the server's connect timeout (default 10000, PROTOCOL.md's)
  --token-grace-ms N        the server's grace after token expiry (default 5000)
  --sse-heartbeat-ms N      the server's SSE heartbeat interval (default 15000)
  --ping-interval-ms N      the server's WebSocket ping interval (default 25000)
  --deadline-ms N           longest wait for anything the server should do promptly (default 10000)
  --only PREFIX             run only the checks whose id starts with PREFIX; repeat for more
  --list                    list the checks and exit
  --json                    print the report as JSON
  --help                    this text

Exit code: 0 when no check failed, 1 when one did, 2 on bad usage or an unreachable server.`

function fail(message: string): never {
  console.error(`holdfast-conformance: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) fail(`--${name} must be a non-negative integer, got "${value}"`)
  return Number(value)
}

function runShell(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: 'inherit' })
    child.once('error', reject)
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`--drain-command exited with ${code}: ${command}`)),
    )
  })
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse()
  } catch (error) {
    fail((error as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  if (values.list) {
    for (const check of listChecks()) console.log(`${check.id.padEnd(34)} ${check.section}: ${check.title}`)
    return 0
  }
  if (positionals.length !== 1) fail('give the server base URL, e.g. http://localhost:8080')
  const url = positionals[0]!
  if (!/^https?:\/\//.test(url)) fail(`the base URL must be http:// or https://, got "${url}"`)
  const token = values.token ?? process.env.HOLDFAST_TOKEN
  const secret = values.secret ?? process.env.HOLDFAST_SECRET
  const drainCommand = values['drain-command']
  const deadlineMs = integer('deadline-ms', values['deadline-ms'])
  const burst = integer('connection-rate-burst', values['connection-rate-burst'])
  const timings = {
    handshakeTimeoutMs: integer('handshake-timeout-ms', values['handshake-timeout-ms']),
    tokenGraceMs: integer('token-grace-ms', values['token-grace-ms']),
    sseHeartbeatMs: integer('sse-heartbeat-ms', values['sse-heartbeat-ms']),
    pingIntervalMs: integer('ping-interval-ms', values['ping-interval-ms']),
  }
  const options: ConformanceOptions = {
    url,
    timings,
    ...(token ? { token } : {}),
    ...(secret ? { secret } : {}),
    ...(values['refused-origin'] ? { refusedOrigin: values['refused-origin'] } : {}),
    ...(drainCommand ? { drain: () => runShell(drainCommand) } : {}),
    ...(deadlineMs === undefined ? {} : { deadlineMs }),
    ...(burst === undefined ? {} : { connectionRateBurst: burst }),
    ...(values.only ? { only: values.only } : {}),
  }
  if (!values.json)
    console.error(`holdfast-conformance: checking ${url} (the slowest checks wait for the server's timers)`)
  let report: Awaited<ReturnType<typeof runConformance>>
  try {
    report = await runConformance(options)
  } catch (error) {
    if (error instanceof ConformanceSetupError) {
      console.error(`holdfast-conformance: ${error.message}`)
      return 2
    }
    throw error
  }
  if (values.json) console.log(JSON.stringify(report, null, 2))
  else {
    console.log(formatReport(report))
    if (!report.ok) console.error(`holdfast-conformance: ${formatTotals(report)}`)
  }
  return report.ok ? 0 : 1
}

function parse() {
  return parseArgs({
    options: {
      token: { type: 'string' },
      secret: { type: 'string' },
      'drain-command': { type: 'string' },
      'refused-origin': { type: 'string' },
      'connection-rate-burst': { type: 'string' },
      'handshake-timeout-ms': { type: 'string' },
      'token-grace-ms': { type: 'string' },
      'sse-heartbeat-ms': { type: 'string' },
      'ping-interval-ms': { type: 'string' },
      'deadline-ms': { type: 'string' },
      only: { type: 'string', multiple: true },
      list: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    allowPositionals: true,
  })
}

main().then(
  (code) => {
    process.exitCode = code
    // Sockets the server left half-open must not keep the process alive after the report.
    setTimeout(() => process.exit(code), 100).unref()
  },
  (error: unknown) => {
    console.error(`holdfast-conformance: ${(error as Error)?.stack ?? String(error)}`)
    process.exit(1)
  },
)
