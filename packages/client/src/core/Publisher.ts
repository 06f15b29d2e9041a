import { HoldfastError } from '../HoldfastError'
import type { Transport } from '../transports/Transport'
import { Timer, type Timers } from './timers'

export interface PublishQueueOptions {
  /** Most publishes waiting for the server at once. Defaults to 1000. */
  maxMessages?: number
  /** Most bytes (JSON-encoded data) waiting at once. Defaults to 1048576 (1 MiB). */
  maxBytes?: number
  /** A publish not acknowledged within this long (ms) is rejected with `timeout`. Defaults to 60000. */
  ttlMs?: number
}

/** What the server answered a publish: the stored message's cursor; `duplicate` when the key was seen before. */
export interface PublishResult {
  cursor: string
  duplicate: boolean
}

interface QueuedPublish {
  channel: string
  data: unknown
  key: string
  bytes: number
  at: number
  sending: boolean
  resolve(result: PublishResult): void
  reject(error: HoldfastError): void
}

/** What the publisher asks of the client. */
export interface PublisherLink {
  /** The transport to send on, while connected. */
  transport(): Transport | undefined
  /** Whether publishes must wait for channels the app asked for (see `ChannelRegistry.blocks`). */
  blocked(): boolean
  /** A jittered delay before retrying a publish that failed while the connection stayed up. */
  retryMs(): number
}

/**
 * Publishes not yet acknowledged: a bounded FIFO (count, bytes, age) whose overflow is refused, never
 * dropped silently. Each keeps its idempotency key across resends, so a publish is stored once.
 */
export class Publisher {
  readonly #items: QueuedPublish[] = []
  #bytes = 0
  readonly #expiry: Timer
  readonly #retry: Timer
  readonly #max: Required<PublishQueueOptions>
  readonly #now: () => number
  readonly #link: PublisherLink
  /** A publish was refused for now (`rate_limited`): nothing is sent until the retry timer, so order holds. */
  #held = false

  constructor(options: PublishQueueOptions = {}, timers: Timers, now: () => number, link: PublisherLink) {
    this.#max = { maxMessages: 1000, maxBytes: 2 ** 20, ttlMs: 60_000, ...options }
    this.#now = now
    this.#link = link
    this.#expiry = new Timer(timers)
    this.#retry = new Timer(timers)
  }

  /** Queues a publish; throws `queue_full` when a bound would be passed. */
  add(item: Omit<QueuedPublish, 'at' | 'sending'>): void {
    const limit =
      this.#items.length >= this.#max.maxMessages
        ? 'maxMessages'
        : this.#bytes + item.bytes > this.#max.maxBytes
          ? 'maxBytes'
          : undefined
    if (limit)
      throw new HoldfastError(
        'queue_full',
        `publish queue full (queue.${limit} = ${this.#max[limit]}); wait for the connection, or raise the limit`,
      )
    this.#items.push({ ...item, at: this.#now(), sending: false })
    this.#bytes += item.bytes
    if (!this.#expiry.pending) this.#expire()
  }

  /**
   * Sends what may go now on the connected transport, oldest first, up to the transport's concurrency, and
   * not past a publish that a channel asked for before it holds back.
   */
  flush(): void {
    const transport = this.#link.transport()
    if (!transport || this.#held) return
    let sending = this.#items.filter((item) => item.sending).length
    for (const item of this.#items) {
      if (sending >= transport.concurrency || this.#link.blocked()) return
      if (item.sending) continue
      item.sending = true
      sending++
      transport.publish(item).then(
        (result) => {
          this.#remove(item)
          item.resolve(result)
          this.flush()
        },
        (error: unknown) => {
          const err = HoldfastError.from(error)
          if (!err.retryable) {
            this.#remove(item)
            item.reject(err)
          } else if (item.sending) {
            // Stays queued with the same key (the server drops the copy if the first one landed). The
            // connection may still be up (a rate limit, one HTTP publish failed): send nothing until the
            // timer, then oldest first, so no later publish overtakes it. Each refusal restarts the wait.
            item.sending = false
            this.#held = true
            this.#retry.start(err.retryAfterMs ?? this.#link.retryMs(), () => {
              this.#held = false
              this.flush()
            })
          }
        },
      )
    }
  }

  /** The connection dropped: nothing is on the wire any more; everything is sent again (same keys). */
  unsent(): void {
    this.#retry.cancel()
    this.#held = false
    for (const item of this.#items) item.sending = false
  }

  /** Rejects every queued publish and releases the timers (`close()`, a terminal error). */
  rejectAll(error: HoldfastError): void {
    this.unsent()
    this.#expiry.cancel()
    this.#bytes = 0
    for (const item of this.#items.splice(0)) item.reject(error)
  }

  #remove(item: QueuedPublish): void {
    const i = this.#items.indexOf(item)
    if (i < 0) return
    this.#items.splice(i, 1)
    this.#bytes -= item.bytes
  }

  /** Rejects publishes older than `ttlMs` and arms the timer for the next one. */
  #expire(): void {
    const now = this.#now()
    const { ttlMs } = this.#max
    for (const item of this.#items.filter((item) => now - item.at >= ttlMs)) {
      this.#remove(item)
      item.reject(
        new HoldfastError(
          'timeout',
          `publish to "${item.channel}" was not acknowledged within ${ttlMs} ms; it is safe to retry with the same key`,
        ),
      )
    }
    const oldest = this.#items[0]
    if (oldest) this.#expiry.start(oldest.at + ttlMs - now, () => this.#expire())
  }
}
