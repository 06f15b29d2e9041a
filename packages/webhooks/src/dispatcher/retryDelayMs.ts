import { parseRetryAfter } from '@holdfast/protocol'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

/**
 * Waits before each retry, after the first attempt (which is immediate): the Standard Webhooks
 * schedule, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. Ten attempts over about 3 days.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([
  5 * SECOND,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  14 * HOUR,
  20 * HOUR,
  24 * HOUR,
])

/** Default jitter: each wait is spread uniformly over ±20 % of its scheduled value. */
export const DEFAULT_JITTER = 0.2

/** Default ceiling for a receiver's `Retry-After`, so a hostile value cannot park a delivery forever. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 24 * HOUR

export interface RetryDelayOptions {
  /** 1 for the first retry (second attempt), 2 for the next, … */
  retry: number
  /** The schedule. Defaults to `DEFAULT_RETRY_DELAYS_MS`. */
  delaysMs?: readonly number[]
  /** Spread as a fraction of the scheduled wait: the wait lands in `[d·(1−jitter), d·(1+jitter)]` (whole ms). Defaults to 0.2. */
  jitter?: number
  /** Uniform random number in [0, 1). Defaults to `Math.random`. */
  random?: () => number
  /** What the receiver asked for with `Retry-After`, if anything. Used as a floor. */
  retryAfterMs?: number
  /** Ceiling for `retryAfterMs`. Defaults to 24 h. */
  maxRetryAfterMs?: number
}

/**
 * The wait before retry number `retry`, or `undefined` when the schedule is used up. Jitter keeps
 * endpoints that failed together from being retried together; `Retry-After` only ever lengthens
 * the wait (capped at `maxRetryAfterMs`), never shortens it below the schedule.
 */
export function retryDelayMs(options: RetryDelayOptions): number | undefined {
  const delays = options.delaysMs ?? DEFAULT_RETRY_DELAYS_MS
  const scheduled = delays[options.retry - 1]
  if (scheduled === undefined) return undefined
  const jitter = options.jitter ?? DEFAULT_JITTER
  const random = (options.random ?? Math.random)()
  const jittered = Math.round(scheduled * (1 - jitter + 2 * jitter * random))
  const floor = Math.min(options.retryAfterMs ?? 0, options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS)
  return Math.max(jittered, floor)
}

/**
 * Reads a `Retry-After` header, either delay-seconds (`120`) or an HTTP date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`), as milliseconds from `nowMs`. `undefined` when absent or unreadable.
 * The one parser of `@holdfast/protocol`, which the realtime client uses too.
 */
export const parseRetryAfterMs: (value: string | null | undefined, nowMs: number) => number | undefined =
  parseRetryAfter
