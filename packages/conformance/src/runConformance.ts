import { ALL_CHECKS } from './checks'
import { type Check, SECTION_ORDER } from './checks/Check'
import { CheckContext, DEFAULT_MAX_MESSAGE_BYTES, describeError, RunState } from './context'
import type { CheckResult, ConformanceOptions, ConformanceReport } from './options'
import { CheckFailure, describe, NotRun } from './outcome'

/** Thrown when the server cannot be reached or tested at all (rather than failing checks). */
export class ConformanceSetupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConformanceSetupError'
  }
}

/**
 * Runs the wire-conformance suite of docs/PROTOCOL.md against a server: every check is reported as
 * passed, failed (with what was expected and what came back) or not run (with what it needs).
 */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const run = new RunState(options)
  await discover(run)
  const selected = ALL_CHECKS.filter(
    (check) => !options.only || options.only.some((prefix) => check.id.startsWith(prefix)),
  )
  const results = new Map<Check, CheckResult>()
  const record = (check: Check, result: CheckResult) => {
    results.set(check, result)
    options.onResult?.(result)
  }
  try {
    await runPool(
      selected.filter((c) => !c.last),
      options.concurrency ?? 4,
      async (check) => record(check, await runCheck(run, check)),
    )
    for (const check of selected.filter((c) => c.last)) record(check, await runCheck(run, check))
  } finally {
    run.dispose()
  }
  const ordered = selected
    .map((check) => results.get(check)!)
    .sort((a, b) => SECTION_ORDER.indexOf(a.section) - SECTION_ORDER.indexOf(b.section))
  const count = (status: CheckResult['status']) => ordered.filter((r) => r.status === status).length
  return {
    url: options.url,
    results: ordered,
    passed: count('pass'),
    failed: count('fail'),
    notRun: count('not-run'),
    ok: count('fail') === 0,
  }
}

async function runCheck(run: RunState, check: Check): Promise<CheckResult> {
  const base = { id: check.id, section: check.section, title: check.title }
  const ctx = new CheckContext(run, check.id)
  try {
    await check.run(ctx)
    return { ...base, status: 'pass' }
  } catch (error) {
    if (error instanceof NotRun) return { ...base, status: 'not-run', needs: error.needs }
    if (error instanceof CheckFailure)
      return { ...base, status: 'fail', expected: error.expected, actual: error.actual }
    return {
      ...base,
      status: 'fail',
      expected: 'the check to run to its end',
      actual: `the kit itself threw: ${describeError(error)}`,
    }
  } finally {
    ctx.dispose()
  }
}

/** What every check relies on: the server answers, and whether it wants tokens. */
async function discover(run: RunState): Promise<void> {
  const ctx = new CheckContext(run, 'discover')
  try {
    let health: Response
    try {
      health = await run.fetch(ctx.url('/health'))
      await health.text()
    } catch (error) {
      throw new ConformanceSetupError(`cannot reach ${ctx.url('/health')}: ${describeError(error)}`)
    }
    const probe = await ctx.poll([ctx.channel('probe')], { token: null, timeoutMs: 0 })
    const open = probe.status === 200
    if (!open && probe.status === 401 && !run.options.token && !run.options.secret)
      throw new ConformanceSetupError(
        `the server requires tokens (GET /poll without one: HTTP 401 ${describe(probe.text)}); pass --token or --secret`,
      )
    run.facts = { open, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES }
    try {
      const { welcome } = await ctx.connected()
      if (Number.isInteger(welcome.maxMessageBytes)) run.facts.maxMessageBytes = welcome.maxMessageBytes
    } catch {
      // The WebSocket checks report the problem; the HTTP ones use PROTOCOL.md's default limit.
    }
  } finally {
    ctx.dispose()
  }
}

async function runPool<T>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) await work(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker))
}
