import type { DedupeStore } from './DedupeStore'

export interface MemoryDedupeStoreOptions {
  /** Most ids remembered at once; beyond it the oldest are forgotten first. Defaults to 100000. */
  maxEntries?: number
  /** Clock in milliseconds since the epoch. Defaults to `Date.now`. */
  now?: () => number
}

/**
 * Per-process dedupe memory, bounded by `maxEntries`. Run several receiver processes behind a load
 * balancer? Use `RedisDedupeStore`, or each process will process its own copy of a retried delivery.
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #expiresAt = new Map<string, number>()
  readonly #maxEntries: number
  readonly #now: () => number

  constructor(options: MemoryDedupeStoreOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 100_000
    this.#now = options.now ?? (() => Date.now())
  }

  async claim(id: string, ttlMs: number): Promise<boolean> {
    const now = this.#now()
    // Insertion order is expiry order (one TTL per receiver), so expired ids sit at the front.
    for (const [key, expiresAt] of this.#expiresAt) {
      if (expiresAt > now) break
      this.#expiresAt.delete(key)
    }
    if ((this.#expiresAt.get(id) ?? 0) > now) return false
    this.#expiresAt.set(id, now + ttlMs)
    for (const key of this.#expiresAt.keys()) {
      if (this.#expiresAt.size <= this.#maxEntries) break
      this.#expiresAt.delete(key)
    }
    return true
  }

  async release(id: string): Promise<void> {
    this.#expiresAt.delete(id)
  }
}
