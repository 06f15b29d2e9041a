/**
 * Remembers which `webhook-id`s were processed, so a retried or replayed delivery runs the handler
 * once. `MemoryDedupeStore` is the default; `RedisDedupeStore` shares the memory between processes.
 */
export interface DedupeStore {
  /** Marks `id` as taken for `ttlMs`. Resolves true when it was new (the caller should process it). Must be atomic. */
  claim(id: string, ttlMs: number): Promise<boolean>
  /** Forgets `id`, so the next delivery with it is processed again (used when the handler failed). */
  release(id: string): Promise<void>
}
