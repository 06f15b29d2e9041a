/** How reconnect delays are drawn. */
export type JitterMode = 'full' | 'equal' | 'decorrelated'

export interface BackoffOptions {
  /** Base delay of the first retry. Defaults to 500. */
  initialMs?: number
  /** Cap of the exponential ceiling. Defaults to 30000. */
  maxMs?: number
  /**
   * `full` (default): `random(0, min(maxMs, initialMs * 2^attempt))`, still random at the cap.
   * `equal`: half fixed, half random. `decorrelated`: `min(maxMs, random(initialMs, previous * 3))`.
   */
  jitter?: JitterMode
  /** A connection must stay up this long before the attempt count resets. Defaults to 5000. */
  stableAfterMs?: number
}

export interface ResolvedBackoff {
  initialMs: number
  maxMs: number
  jitter: JitterMode
  stableAfterMs: number
}

export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const initialMs = options.initialMs ?? 500
  const maxMs = options.maxMs ?? 30_000
  if (!(initialMs > 0) || !(maxMs >= initialMs)) {
    throw new RangeError('[holdfast] backoff needs 0 < initialMs <= maxMs')
  }
  return { initialMs, maxMs, jitter: options.jitter ?? 'full', stableAfterMs: options.stableAfterMs ?? 5000 }
}

/**
 * Draws the delay before retry number `attempt` (0-based). Every call draws anew, so two clients
 * (or two attempts) never share a fixed random offset.
 */
export function nextBackoffDelay(
  policy: ResolvedBackoff,
  attempt: number,
  previousMs: number,
  random: () => number,
): number {
  const { initialMs, maxMs, jitter } = policy
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 52))
  return jitter === 'equal'
    ? ceiling / 2 + random() * (ceiling / 2)
    : jitter === 'decorrelated'
      ? Math.min(maxMs, initialMs + random() * (Math.max(initialMs, previousMs * 3) - initialMs))
      : random() * ceiling
}
