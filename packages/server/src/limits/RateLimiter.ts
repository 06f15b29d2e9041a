import type { Clock } from '../Clock'

/** A rate: `perSecond` on average, `burst` at once after a quiet period. */
export interface RateOptions {
  /** Actions allowed per second, on average. */
  perSecond: number
  /** Actions allowed at once after a quiet period (the bucket's size). Defaults to `perSecond`. */
  burst?: number
}

export type RateVerdict = { allowed: true } | { allowed: false; retryAfterMs: number }

const ALLOWED: RateVerdict = { allowed: true }

/**
 * One token bucket as two numbers, so a limiter per connection costs a few bytes. The rate lives in the
 * `Rate` that drives it, shared by every bucket of that kind.
 */
export interface BucketState {
  tokens: number
  updatedAt: number
}

/** The arithmetic of a token bucket, shared by every bucket of one kind (one per connection, per key…). */
export class Rate {
  readonly perSecond: number
  readonly burst: number
  readonly #perMs: number

  constructor(options: RateOptions) {
    this.perSecond = options.perSecond
    this.burst = options.burst ?? options.perSecond
    this.#perMs = this.perSecond / 1000
  }

  /** A full bucket. */
  fresh(now: number): BucketState {
    return { tokens: this.burst, updatedAt: now }
  }

  /** Takes one token from `state` when there is one; otherwise says when the next one comes. */
  take(state: BucketState, now: number): RateVerdict {
    this.refill(state, now)
    if (state.tokens >= 1) {
      state.tokens -= 1
      return ALLOWED
    }
    return { allowed: false, retryAfterMs: Math.max(1, Math.ceil((1 - state.tokens) / this.#perMs)) }
  }

  refill(state: BucketState, now: number): void {
    const elapsed = now - state.updatedAt
    if (elapsed > 0) state.tokens = Math.min(this.burst, state.tokens + elapsed * this.#perMs)
    state.updatedAt = now
  }
}

export interface KeyedRateLimiterOptions extends RateOptions {
  /**
   * Most keys tracked at once. Past it the least recently used key is forgotten (its bucket starts full
   * again), so the table is bounded by count, and by bytes through the bounded key length. Defaults to 100000.
   */
  maxKeys?: number
}

// Longer keys are cut: they come from the network (addresses) or from tokens, and must not grow the table.
const MAX_KEY_LENGTH = 200

/**
 * A token bucket per key (a client address, a user), for limits that must hold per client rather than in
 * total. Bounded by `maxKeys`, least recently used first out.
 */
export class KeyedRateLimiter {
  readonly rate: Rate
  readonly #clock: Clock
  readonly #maxKeys: number
  readonly #buckets = new Map<string, BucketState>()

  constructor(options: KeyedRateLimiterOptions, clock: Clock) {
    this.rate = new Rate(options)
    this.#clock = clock
    this.#maxKeys = options.maxKeys ?? 100_000
  }

  take(key: string): RateVerdict {
    const k = key.length > MAX_KEY_LENGTH ? key.slice(0, MAX_KEY_LENGTH) : key
    const now = this.#clock.now()
    let state = this.#buckets.get(k)
    if (state) {
      // Re-inserted so the Map's order is least recently used first.
      this.#buckets.delete(k)
    } else {
      state = this.rate.fresh(now)
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!)
    }
    this.#buckets.set(k, state)
    return this.rate.take(state, now)
  }

  /** Keys tracked right now. */
  get size(): number {
    return this.#buckets.size
  }
}
