/** A check found the server saying something other than PROTOCOL.md: what it expected, what came back. */
export class CheckFailure extends Error {
  readonly expected: string
  readonly actual: string
  constructor(expected: string, actual: string) {
    super(`expected ${expected}; got ${actual}`)
    this.name = 'CheckFailure'
    this.expected = expected
    this.actual = actual
  }
}

/** A check that cannot run against this server without something the run was not given. */
export class NotRun extends Error {
  readonly needs: string
  constructor(needs: string) {
    super(`not run (needs ${needs})`)
    this.name = 'NotRun'
    this.needs = needs
  }
}

/** Fails the check unless `condition` holds. */
export function expectThat(condition: unknown, expected: string, actual: unknown): asserts condition {
  if (!condition) throw new CheckFailure(expected, describe(actual))
}

/**
 * Fails the check unless `actual` matches `expected`: objects need the expected fields (PROTOCOL.md §3:
 * unknown fields are ignored, so a server may send more), arrays the same length and matching elements,
 * everything else equality.
 */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (!matches(actual, expected))
    throw new CheckFailure(`${what} ${truncate(JSON.stringify(expected) ?? 'undefined')}`, describe(actual))
}

export function matches(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected))
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((e, i) => matches(actual[i], e))
    )
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false
    return Object.entries(expected).every(([key, value]) =>
      matches((actual as Record<string, unknown>)[key], value),
    )
  }
  return Object.is(actual, expected)
}

/** A short, readable rendering of anything a server sent. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return truncate(value)
  try {
    return truncate(JSON.stringify(value) ?? String(value))
  } catch {
    return truncate(String(value))
  }
}

export function truncate(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text
}
