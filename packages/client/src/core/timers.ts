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

/** A timer that can be re-armed and cancelled; at most one pending callback. */
export class Timer {
  #handle: unknown
  readonly #timers: Timers

  constructor(timers: Timers) {
    this.#timers = timers
  }

  start(ms: number, fn: () => void): void {
    this.cancel()
    this.#handle = this.#timers.setTimeout(
      () => {
        this.#handle = undefined
        fn()
      },
      Math.max(0, ms),
    )
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
