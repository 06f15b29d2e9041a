/** Opaque handle returned by `Clock.setTimeout`. */
export type TimerHandle = unknown

/**
 * Time as the server sees it. Everything that waits or stamps goes through this,
 * so tests can drive expiry, heartbeats and history age without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  setTimeout(callback: () => void, delayMs: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

// Largest delay Node's setTimeout honours; longer ones fire at once.
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1

/**
 * The real clock. Globals are looked up on every call rather than captured here,
 * so fake timers installed after import still apply.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** Lets a background timer (history sweeps) not keep the process alive on its own. */
export function unrefTimer(handle: TimerHandle): void {
  const maybe = handle as { unref?: () => void } | null
  if (maybe && typeof maybe.unref === 'function') maybe.unref()
}
