import type { Redis } from 'ioredis'
import type { DedupeStore } from './DedupeStore'

export interface RedisDedupeStoreOptions {
  /** An ioredis client. The store never closes it. */
  redis: Redis
  /** Prefix of each id's key. Defaults to `holdfast:webhooks:seen:`. */
  keyPrefix?: string
}

/** Dedupe memory in Redis: one `SET key 1 PX ttl NX` per delivery, shared by every receiver process. */
export class RedisDedupeStore implements DedupeStore {
  readonly #redis: Redis
  readonly #keyPrefix: string

  constructor(options: RedisDedupeStoreOptions) {
    this.#redis = options.redis
    this.#keyPrefix = options.keyPrefix ?? 'holdfast:webhooks:seen:'
  }

  async claim(id: string, ttlMs: number): Promise<boolean> {
    return (
      (await this.#redis.set(this.#keyPrefix + id, '1', 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK'
    )
  }

  async release(id: string): Promise<void> {
    await this.#redis.del(this.#keyPrefix + id)
  }
}
