import type { Clock } from '../Clock'

export interface ConnectionRateOptions {
  /** New connections admitted per second, on average. */
  perSecond: number
  /** Connections admitted at once after a quiet period (the bucket's size). Defaults to `perSecond`. */
  burst?: number
  /** Longest retry hint handed out, in milliseconds. Defaults to 30000. */
  maxRetryAfterMs?: number
}

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number }

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
    const { perSecond } = options
    const burst = options.burst ?? perSecond
    const maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000
    if (!(typeof perSecond === 'number' && Number.isFinite(perSecond) && perSecond > 0))
      throw new RangeError(`[holdfast] limits.connectionRate.perSecond must be > 0, got ${String(perSecond)}`)
    if (!(typeof burst === 'number' && Number.isFinite(burst) && burst >= 1))
      throw new RangeError(`[holdfast] limits.connectionRate.burst must be >= 1, got ${String(burst)}`)
    if (!(maxRetryAfterMs > 0))
      throw new RangeError('[holdfast] limits.connectionRate.maxRetryAfterMs must be > 0')
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
      return { admitted: true }
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
