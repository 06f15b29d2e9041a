import type { Clock } from '../Clock'
import { numberOption } from '../options/check'

export interface ConnectionRateOptions {
  /**
   * New connections admitted per second: one every `1000 / perSecond` ms, and never more than `perSecond`
   * (rounded down, at least one) in any one-second window, including the first second after a start.
   */
  perSecond: number
  /**
   * Connections admitted back to back after a quiet period, before the pacing takes over again: the
   * credit a server saves while nobody arrives, up to this many. A fresh server starts with none. It never
   * lifts the one-second ceiling. Defaults to a tenth of `perSecond` (at least 1).
   */
  burst?: number
  /** Longest retry hint handed out, in milliseconds. Defaults to 30000. */
  maxRetryAfterMs?: number
}

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number }

const ADMITTED: Admission = { admitted: true }
const WINDOW_MS = 1000

/**
 * Paced admission of new connections (GCRA, the virtual-scheduling form of a token bucket) under a sliding
 * one-second ceiling:
 *
 * - one admission every `1000 / perSecond` ms; idle time saves credit for at most `burst` back to back.
 *   A fresh server has no credit, so a restart under a storm is paced from its first connection;
 * - never more than `perSecond` in any one-second window: the times of the last `perSecond` admissions are
 *   kept, and one more is admitted only once the oldest of them is a second old (a bucket that starts full
 *   and refills on top admits twice the rate in its first second; this cannot);
 * - a refused connection is told when to come back: its own slot, the next one not yet handed out, each
 *   `1000 / perSecond` ms after the previous, so a storm of refused clients returns spread out at the
 *   admission rate instead of all at once.
 *
 * Slots are advice, not reservations (the server cannot tell a returning client from a new one): whoever
 * arrives when the pacing allows is admitted, and the credit absorbs clients that return a little late.
 */
export class ConnectionAdmission {
  readonly #clock: Clock
  readonly #intervalMs: number
  /** How far ahead of the schedule an admission may be: the saved credit, `(burst - 1)` intervals. */
  readonly #toleranceMs: number
  readonly #perWindow: number
  readonly #maxRetryAfterMs: number
  /** The theoretical arrival time of the next connection, were they all evenly spaced. */
  #scheduledAt: number
  /** The last `#perWindow` admission times, a ring; `#oldest` indexes the earliest. */
  readonly #recent: number[] = []
  #oldest = 0
  /** The next slot not yet handed to a refused connection. */
  #nextSlotAt = Number.NEGATIVE_INFINITY

  constructor(options: ConnectionRateOptions, clock: Clock) {
    const perSecond = numberOption('limits.connectionRate.perSecond', options.perSecond, Number.NaN)
    const burst = numberOption(
      'limits.connectionRate.burst',
      options.burst,
      Math.max(1, Math.ceil(perSecond / 10)),
      { min: 1 },
    )
    this.#maxRetryAfterMs = numberOption(
      'limits.connectionRate.maxRetryAfterMs',
      options.maxRetryAfterMs,
      30_000,
    )
    this.#clock = clock
    this.#intervalMs = WINDOW_MS / perSecond
    this.#toleranceMs = (burst - 1) * this.#intervalMs
    this.#perWindow = Math.max(1, Math.floor(perSecond))
    // No credit at the start: the first connection is admitted at once, the next one interval later.
    this.#scheduledAt = clock.now() + this.#toleranceMs
  }

  /** Admits a connection when the pacing and the one-second ceiling allow; otherwise hands out a slot. */
  admit(): Admission {
    const now = this.#clock.now()
    const earliest = this.#earliest()
    if (now >= earliest) {
      this.#scheduledAt = Math.max(this.#scheduledAt, now) + this.#intervalMs
      const recent = this.#recent
      if (recent.length < this.#perWindow) recent.push(now)
      else {
        recent[this.#oldest] = now
        this.#oldest = (this.#oldest + 1) % this.#perWindow
      }
      return ADMITTED
    }
    const slot = Math.max(earliest, this.#nextSlotAt)
    // Slots past the longest hint are not handed out, so a flood of refusals cannot push the queue out forever.
    this.#nextSlotAt = Math.min(slot, now + this.#maxRetryAfterMs) + this.#intervalMs
    return {
      admitted: false,
      retryAfterMs: Math.min(this.#maxRetryAfterMs, Math.max(1, Math.ceil(slot - now))),
    }
  }

  /** When the next connection could be admitted: after the pacing's schedule and the window's oldest. */
  #earliest(): number {
    const recent = this.#recent
    const windowFreeAt =
      recent.length < this.#perWindow ? Number.NEGATIVE_INFINITY : recent[this.#oldest]! + WINDOW_MS
    return Math.max(this.#scheduledAt - this.#toleranceMs, windowFreeAt)
  }
}
