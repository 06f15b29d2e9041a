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
   * Cap of the ceiling (ms) while the server cannot be reached at all (connection refused, network down):
   * such attempts cost the server nothing, so the client keeps probing this often and is back soon after
   * the server is. Defaults to `maxMs`.
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
  const unreachableMaxMs = Math.min(maxMs, options.unreachableMaxMs ?? maxMs)
  const jitter = options.jitter ?? 'full'
  if (!(maxMs >= initialMs))
    throw new HoldfastError('bad_request', `backoff.maxMs must be >= initialMs (${initialMs}), got ${maxMs}`)
  let attempt = 0
  let previous = initialMs
  return {
    get attempt() {
      return attempt
    },
    stableAfterMs: options.stableAfterMs ?? 5000,
    next(hint = {}) {
      const cap = hint.unreachable ? unreachableMaxMs : maxMs
      const ceiling = Math.min(cap, initialMs * 2 ** Math.min(attempt++, 52))
      const draw =
        jitter === 'equal'
          ? ceiling / 2 + (random() * ceiling) / 2
          : jitter === 'decorrelated'
            ? Math.min(cap, initialMs + random() * (previous * 3 - initialMs))
            : random() * ceiling
      previous = Math.max(initialMs, draw)
      return hint.hintMs === undefined ? draw : hint.hintMs + Math.min(draw, initialMs)
    },
    reset() {
      attempt = 0
      previous = initialMs
    },
  }
}
