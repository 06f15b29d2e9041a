/** The timer functions the client uses; inject fakes in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

// Resolved at call time, not import time, so fake timers installed later still apply.
export const globalTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
}

export const systemClock = (): number => Date.now()

/** The longest delay engines keep: `setTimeout` fires a longer one at once (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The client's one scheduler: a timer that can be re-armed and cancelled, with at most one pending
 * callback. Every delay in the client goes through it. A delay longer than `MAX_TIMER_MS` (a token
 * that expires in 25 days, a hostile `Retry-After`) is waited in steps instead of firing at once, and a
 * negative or `NaN` delay counts as 0.
 */
export class Timer {
  #handle: unknown
  readonly #timers: Timers

  constructor(timers: Timers) {
    this.#timers = timers
  }

  start(ms: number, fn: () => void): void {
    this.cancel()
    const step = Math.max(0, Math.min(MAX_TIMER_MS, ms)) || 0
    this.#handle = this.#timers.setTimeout(() => {
      this.#handle = undefined
      if (ms > step) this.start(ms - step, fn)
      else fn()
    }, step)
  }

  cancel(): void {
    if (this.#handle !== undefined) {
      this.#timers.clearTimeout(this.#handle)
      this.#handle = undefined
    }
  }

  get pending(): boolean {
    return this.#handle !== undefined
  }
}
