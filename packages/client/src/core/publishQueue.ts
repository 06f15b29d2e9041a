import { HoldfastError } from '../HoldfastError'

export interface PublishQueueOptions {
  /** Most publishes waiting for the server at once. Defaults to 1000. */
  maxMessages?: number
  /** Most bytes (JSON-encoded data) waiting at once. Defaults to 1048576 (1 MiB). */
  maxBytes?: number
  /** A publish not acknowledged within this long is rejected with `timeout`. Defaults to 60000. */
  ttlMs?: number
}

export interface PublishResult {
  cursor: string
  duplicate: boolean
}

export interface QueuedPublish {
  channel: string
  data: unknown
  key: string
  bytes: number
  enqueuedAt: number
  inFlight: boolean
  resolve(result: PublishResult): void
  reject(error: HoldfastError): void
}

/** Bounded FIFO of publishes not yet acknowledged. Overflow is refused, never dropped silently. */
export class PublishQueue {
  readonly #items: QueuedPublish[] = []
  #bytes = 0
  // `declare`: assigned in the constructor, so no class-field code is emitted for them.
  declare readonly maxMessages: number
  declare readonly maxBytes: number
  declare readonly ttlMs: number

  constructor(options: PublishQueueOptions = {}) {
    this.maxMessages = options.maxMessages ?? 1000
    this.maxBytes = options.maxBytes ?? 2 ** 20
    this.ttlMs = options.ttlMs ?? 60_000
  }

  add(item: QueuedPublish): void {
    const limit =
      this.#items.length >= this.maxMessages
        ? 'maxMessages'
        : this.#bytes + item.bytes > this.maxBytes
          ? 'maxBytes'
          : undefined
    if (limit) {
      throw new HoldfastError(
        'queue_full',
        `publish queue is full (queue.${limit} = ${this[limit]}); wait for the connection or raise the limit`,
      )
    }
    this.#items.push(item)
    this.#bytes += item.bytes
  }

  remove(item: QueuedPublish): void {
    const i = this.#items.indexOf(item)
    if (i >= 0) {
      this.#items.splice(i, 1)
      this.#bytes -= item.bytes
    }
  }

  /** Items not currently on the wire, oldest first. */
  pending(): QueuedPublish[] {
    return this.#items.filter((item) => !item.inFlight)
  }

  inFlightCount(): number {
    return this.#items.length - this.pending().length
  }

  /** After a disconnect nothing is on the wire any more; everything is sent again (same keys). */
  markAllUnsent(): void {
    for (const item of this.#items) item.inFlight = false
  }

  /** Rejects and removes items older than `ttlMs`. Returns when the next one expires. */
  expire(now: number): number | undefined {
    for (const item of this.#items.filter((item) => now - item.enqueuedAt >= this.ttlMs)) {
      this.remove(item)
      item.reject(
        new HoldfastError(
          'timeout',
          `publish to "${item.channel}" was not acknowledged within ${this.ttlMs} ms; it is safe to retry with the same key`,
        ),
      )
    }
    const oldest = this.#items[0]
    return oldest && oldest.enqueuedAt + this.ttlMs
  }

  rejectAll(error: HoldfastError): void {
    const items = this.#items.splice(0)
    this.#bytes = 0
    for (const item of items) item.reject(error)
  }
}
