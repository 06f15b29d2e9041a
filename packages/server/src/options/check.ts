import { HoldfastServerError } from '../HoldfastServerError'

/**
 * Small checks for options objects. Every failure is a `HoldfastServerError` (`bad_request`) whose message
 * names the option, says what was wrong and how to fix it: a typo or an unset environment variable must
 * not surface later as a raw `TypeError` deep inside the server.
 */
export function optionError(path: string, problem: string, fix: string): HoldfastServerError {
  return new HoldfastServerError('bad_request', `[holdfast] ${path} ${problem}; ${fix}`)
}

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'undefined')
    return String(value)
  return `a ${typeof value}`
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * `value` must be undefined or a plain object with only `known` keys (a misspelt option would otherwise
 * be ignored silently). Returns it, or `{}` when undefined.
 */
export function objectOption(
  path: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isPlainObject(value))
    throw optionError(path, `must be an object, got ${describe(value)}`, `pass { ${known.join(', ')} }`)
  for (const key of Object.keys(value)) {
    // A label such as "createServer options" names the whole object, not a path to a key.
    if (!known.includes(key))
      throw optionError(
        path.includes(' ') ? key : `${path}.${key}`,
        'is not an option',
        `use one of: ${known.join(', ')}`,
      )
  }
  return value
}

export interface NumberRule {
  /** Must be an integer. */
  integer?: boolean
  /** Smallest value allowed (inclusive). Defaults to "more than 0". */
  min?: number
  /** Largest value allowed (inclusive). */
  max?: number
}

/** A finite number within the rule, or `fallback` when undefined. */
export function numberOption(path: string, value: unknown, fallback: number, rule: NumberRule = {}): number {
  if (value === undefined) return fallback
  const { integer = false, min, max } = rule
  const wanted = `${integer ? 'an integer' : 'a number'} ${min === undefined ? '> 0' : `>= ${min}`}${max === undefined ? '' : ` and <= ${max}`}`
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) &&
    (min === undefined ? value > 0 : value >= min) &&
    (max === undefined || value <= max)
  if (!ok)
    throw optionError(
      path,
      `must be ${wanted}, got ${describe(value)}`,
      `omit it for the default (${fallback})`,
    )
  return value as number
}

export function functionOption<T>(path: string, value: unknown, what: string): T | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function')
    throw optionError(path, `must be a function, got ${describe(value)}`, `pass ${what}, or omit it`)
  return value as T
}

export function stringOption(path: string, value: unknown, fix: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '')
    throw optionError(path, `must be a non-empty string, got ${describe(value)}`, fix)
  return value
}

export function booleanOption(path: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean')
    throw optionError(
      path,
      `must be true or false, got ${describe(value)}`,
      `omit it for the default (${fallback})`,
    )
  return value
}

/** An object that must have these methods (a broker, a logger, a clock). */
export function methodsOption<T>(
  path: string,
  value: unknown,
  methods: readonly string[],
  fix: string,
): T | undefined {
  if (value === undefined) return undefined
  const missing =
    typeof value === 'object' && value !== null
      ? methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function')
      : methods
  if (missing.length > 0)
    throw optionError(
      path,
      `must have the methods ${methods.join(', ')} (missing ${missing.join(', ')})`,
      fix,
    )
  return value as T
}
