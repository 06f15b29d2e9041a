import { HoldfastError } from '../HoldfastError'

/** How reconnect delays are drawn. */
export type JitterMode = 'full' | 'equal' | 'decorrelated'

export interface BackoffOptions {
  /** Base delay of the first retry, in ms. Defaults to 500. */
  initialMs?: number
  /** Cap of the exponential ceiling, in ms. Defaults to 30000. */
  maxMs?: number
  /**
   * `full` (default): `random(0, min(maxMs, initialMs * 2^attempt))`, still random at the cap.
   * `equal`: half fixed, half random. `decorrelated`: `min(maxMs, random(initialMs, previous * 3))`.
   */
  jitter?: JitterMode
  /** A connection must stay up this long (ms) before the attempt count resets. Defaults to 5000. */
  stableAfterMs?: number
  /**
   * Ceiling (ms) while the server cannot be reached at all (connection refused, a proxy's 5xx, network
   * down): such attempts cost the server nothing, so the client keeps probing, drawn from
   * `random(0, unreachableMaxMs)` (once a second on average), and every client has tried again within this
   * long of the server being back. They do not grow the exponential ceiling either: the first failure that
   * reaches the server after an outage backs off from `initialMs`. Once the server answers, its hints
   * (admission slots, drain windows) set the pace. Defaults to 2000 (at most `maxMs`).
   */
  unreachableMaxMs?: number
}

/** What the client knows about the attempt that just failed. */
export interface RetryHint {
  /** A delay the server asked for (`Retry-After`, SSE `retry:`, a close reason): a floor, never shortened. */
  hintMs?: number
  /** The attempt never reached the server (refused, offline, DNS). */
  unreachable?: boolean
}

/** The one retry policy: used by the client's connection state machine and by `createEventStream`. */
export interface RetryPolicy {
  /** Retries since the last stable connection. */
  readonly attempt: number
  /** Draws the delay before the next attempt and counts it. */
  next(hint?: RetryHint): number
  /** Starts counting again (a connection stayed up `stableAfterMs`). */
  reset(): void
  readonly stableAfterMs: number
}

/**
 * Full jitter by default, drawn anew on every attempt. A server hint is a floor with up to `initialMs` of
 * jitter above it (so a fleet told the same delay does not come back in lockstep); the exponential ceiling
 * does not stack on top of it, so a server that paces its clients (admission slots, a drain) is followed
 * closely. Throws `bad_request` when `maxMs` is below `initialMs` (callers check each number with checkOptions).
 */
export function createRetryPolicy(
  options: BackoffOptions = {},
  random: () => number = Math.random,
): RetryPolicy {
  const initialMs = options.initialMs ?? 500
  const maxMs = options.maxMs ?? 30_000
  const unreachableMaxMs = Math.min(maxMs, options.unreachableMaxMs ?? 2000)
  const jitter = options.jitter ?? 'full'
  if (!(maxMs >= initialMs))
    throw new HoldfastError('bad_request', `backoff.maxMs must be >= initialMs (${initialMs}), got ${maxMs}`)
  let attempt = 0
  // Failures that reached the server: the exponent. A try that never reached it costs it nothing and says
  // nothing about its load, so it is drawn under the flat unreachable cap and does not grow the ceiling.
  let reached = 0
  let previous = initialMs
  return {
    get attempt() {
      return attempt
    },
    stableAfterMs: options.stableAfterMs ?? 5000,
    next(hint = {}) {
      attempt++
      const cap = hint.unreachable ? unreachableMaxMs : maxMs
      const ceiling = hint.unreachable ? cap : Math.min(cap, initialMs * 2 ** Math.min(reached++, 52))
      const draw =
        jitter === 'equal'
          ? ceiling / 2 + (random() * ceiling) / 2
          : jitter === 'decorrelated'
            ? Math.min(cap, initialMs + random() * (previous * 3 - initialMs))
            : random() * ceiling
      previous = Math.max(initialMs, draw)
      // A hint is a floor, capped at an hour: a hop's `Retry-After: 99999999` must not park a client for years.
      return hint.hintMs === undefined ? draw : Math.min(hint.hintMs, 36e5) + Math.min(draw, initialMs)
    },
    reset() {
      attempt = reached = 0
      previous = initialMs
    },
  }
}
