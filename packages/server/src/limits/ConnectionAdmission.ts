import type { Clock } from '../Clock'
import { numberOption } from '../options/check'

export interface ConnectionRateOptions {
  /** New connections admitted per second, on average. */
  perSecond: number
  /** Connections admitted at once after a quiet period (the bucket's size). Defaults to `perSecond`. */
  burst?: number
  /** Longest retry hint handed out, in milliseconds. Defaults to 30000. */
  maxRetryAfterMs?: number
}

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number }

const ADMITTED: Admission = { admitted: true }

/**
 * A token bucket for new connections. A refused connection is told when to come back, and each refusal
 * gets the next free slot at the admission rate, so a storm of refused clients returns spread out over
 * time instead of all at once when the first token is back.
 */
export class ConnectionAdmission {
  readonly #clock: Clock
  readonly #perMs: number
  readonly #intervalMs: number
  readonly #burst: number
  readonly #maxRetryAfterMs: number
  #tokens: number
  #updatedAt: number
  #nextSlotAt = 0

  constructor(options: ConnectionRateOptions, clock: Clock) {
    const perSecond = numberOption('limits.connectionRate.perSecond', options.perSecond, Number.NaN)
    const burst = numberOption('limits.connectionRate.burst', options.burst, perSecond, { min: 1 })
    const maxRetryAfterMs = numberOption(
      'limits.connectionRate.maxRetryAfterMs',
      options.maxRetryAfterMs,
      30_000,
    )
    this.#clock = clock
    this.#perMs = perSecond / 1000
    this.#intervalMs = 1000 / perSecond
    this.#burst = burst
    this.#maxRetryAfterMs = maxRetryAfterMs
    this.#tokens = burst
    this.#updatedAt = clock.now()
  }

  /** Takes a token when there is one; otherwise says how long this caller should wait. */
  admit(): Admission {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + Math.max(0, now - this.#updatedAt) * this.#perMs)
    this.#updatedAt = now
    if (this.#tokens >= 1) {
      this.#tokens -= 1
      return ADMITTED
    }
    const nextToken = now + (1 - this.#tokens) * this.#intervalMs
    const slot = Math.max(nextToken, this.#nextSlotAt)
    this.#nextSlotAt = Math.min(slot, now + this.#maxRetryAfterMs) + this.#intervalMs
    return { admitted: false, retryAfterMs: Math.min(this.#maxRetryAfterMs, Math.ceil(slot - now)) }
  }

  /** Tokens available right now (fractional). */
  get available(): number {
    const elapsed = Math.max(0, this.#clock.now() - this.#updatedAt)
    return Math.min(this.#burst, this.#tokens + elapsed * this.#perMs)
  }
}
