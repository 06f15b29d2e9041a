import { expect, test } from 'vitest'
import { type ConformanceReport, formatResult, listChecks } from '../src'

/** How a check is expected to come out against one target, when not `pass`. */
export type Expectation =
  | { status: 'not-run'; needs: string }
  /**
   * The target differs from PROTOCOL.md today: the check fails, exactly like this. Every entry names
   * the issue that tracks the fix; when the target is fixed this assertion fails, and the entry goes.
   */
  | { status: 'known-deviation'; todo: string; actual: RegExp }

/**
 * One vitest test per conformance check, reading the report `run()` produced: each must pass unless
 * `expectations` says otherwise, and then come out exactly as said.
 */
export function describeChecks(
  report: () => ConformanceReport,
  expectations: Record<string, Expectation>,
): void {
  for (const id of Object.keys(expectations))
    if (!listChecks().some((c) => c.id === id)) throw new Error(`no check named ${id}`)
  for (const check of listChecks()) {
    const expectation = expectations[check.id]
    test(`${check.id}: ${check.title}`, () => {
      const result = report().results.find((r) => r.id === check.id)
      expect(result, `${check.id} was not run at all`).toBeDefined()
      const printed = formatResult(result!)
      if (!expectation) expect(result!.status, printed).toBe('pass')
      else if (expectation.status === 'not-run') {
        expect(result!.status, printed).toBe('not-run')
        expect(result!.needs, printed).toContain(expectation.needs)
      } else {
        expect(result!.status, `${printed}\n(known deviation, ${expectation.todo})`).toBe('fail')
        expect(result!.actual, printed).toMatch(expectation.actual)
      }
    })
  }
}
