import { HoldfastError } from '../HoldfastError'
import type { Timers } from './timers'
import type { Message } from './types'

/** When a `latest` or `coalesce` subscription flushes: next macrotask, next animation frame, or every N ms. */
export type DeliverySchedule = 'tick' | 'frame' | number

/**
 * How messages reach one subscriber.
 * - `buffer` (default): every message, in order. An async handler is awaited before the next message;
 *   meanwhile messages wait in a bounded buffer (`maxMessages`, default 1000). On overflow either the
 *   oldest is dropped (`overflow: 'drop-oldest'`) or the subscription fails with `slow_consumer` (`'error'`, default).
 * - `latest`: only the newest message, at most once per `schedule` (prices, sensor readings).
 * - `coalesce`: the newest message per `key(message)`, at most once per `schedule` (dashboards, charts).
 */
export type DeliveryPolicy =
  | { policy: 'buffer'; maxMessages?: number; overflow?: 'drop-oldest' | 'error' }
  | { policy: 'latest'; schedule?: DeliverySchedule }
  | { policy: 'coalesce'; key: (message: Message) => string; schedule?: DeliverySchedule }

export interface DeliveryEnv {
  timers: Timers
  /** Reports a failure of this subscriber (handler threw, slow consumer). */
  fail(error: HoldfastError, fatal: boolean): void
}

export interface Delivery {
  push(message: Message): void
  close(): void
  /** Messages waiting for the handler. */
  readonly backlog: number
  /** Messages dropped by the policy (overflow, superseded). */
  readonly dropped: number
}

type Handler = (message: Message) => unknown

export function createDelivery(
  policy: DeliveryPolicy | undefined,
  handler: Handler,
  env: DeliveryEnv,
): Delivery {
  if (!policy || policy.policy === 'buffer') {
    return new BufferDelivery(handler, env, policy?.maxMessages ?? 1000, policy?.overflow ?? 'error')
  }
  if (policy.policy === 'latest')
    return new BatchDelivery(handler, env, () => 'latest', policy.schedule ?? 'tick')
  if (policy.policy === 'coalesce') {
    if (typeof policy.key !== 'function') {
      throw new HoldfastError('bad_request', "delivery { policy: 'coalesce' } needs a key(message) function")
    }
    return new BatchDelivery(handler, env, policy.key, policy.schedule ?? 'frame')
  }
  throw new HoldfastError(
    'bad_request',
    `unknown delivery policy "${String((policy as { policy?: unknown }).policy)}"`,
  )
}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function'
}

class BufferDelivery implements Delivery {
  private readonly queue: Message[] = []
  private busy = false
  private closed = false
  dropped = 0

  constructor(
    private readonly handler: Handler,
    private readonly env: DeliveryEnv,
    private readonly maxMessages: number,
    private readonly overflow: 'drop-oldest' | 'error',
  ) {}

  get backlog(): number {
    return this.queue.length
  }

  push(message: Message): void {
    if (this.closed) return
    if (!this.busy) {
      this.run(message)
      return
    }
    if (this.queue.length >= this.maxMessages) {
      if (this.overflow === 'drop-oldest') {
        this.queue.shift()
        this.dropped++
      } else {
        this.close()
        this.env.fail(
          new HoldfastError(
            'slow_consumer',
            `subscriber fell ${this.maxMessages} messages behind; raise delivery.maxMessages or use 'latest'/'coalesce'`,
          ),
          true,
        )
        return
      }
    }
    this.queue.push(message)
  }

  private run(message: Message): void {
    let result: unknown
    try {
      result = this.handler(message)
    } catch (error) {
      this.env.fail(HoldfastError.from(error), false)
      return
    }
    if (!isPromise(result)) return
    this.busy = true
    Promise.resolve(result).then(
      () => this.next(),
      (error: unknown) => {
        this.env.fail(HoldfastError.from(error), false)
        this.next()
      },
    )
  }

  private next(): void {
    this.busy = false
    // Drain synchronous handlers in a loop; stop again at the next pending promise.
    while (!this.closed && !this.busy && this.queue.length > 0) this.run(this.queue.shift()!)
  }

  close(): void {
    this.closed = true
    this.queue.length = 0
  }
}

class BatchDelivery implements Delivery {
  private readonly pending = new Map<string, Message>()
  private cancel: (() => void) | undefined
  private closed = false
  dropped = 0

  constructor(
    private readonly handler: Handler,
    private readonly env: DeliveryEnv,
    private readonly key: (message: Message) => string,
    private readonly schedule: DeliverySchedule,
  ) {}

  get backlog(): number {
    return this.pending.size
  }

  push(message: Message): void {
    if (this.closed) return
    let k: string
    try {
      k = String(this.key(message))
    } catch (error) {
      this.env.fail(HoldfastError.from(error), false)
      return
    }
    if (this.pending.has(k)) {
      this.dropped++
      // Delete first so the key moves to the end: flush order follows the newest update.
      this.pending.delete(k)
    }
    this.pending.set(k, message)
    if (!this.cancel) this.cancel = this.arm(() => this.flush())
  }

  private arm(fn: () => void): () => void {
    const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => number }).requestAnimationFrame
    const caf = (globalThis as { cancelAnimationFrame?: (id: number) => void }).cancelAnimationFrame
    if (this.schedule === 'frame' && raf && caf) {
      const id = raf(fn)
      return () => caf(id)
    }
    const ms = typeof this.schedule === 'number' ? this.schedule : this.schedule === 'frame' ? 16 : 0
    const handle = this.env.timers.setTimeout(fn, ms)
    return () => this.env.timers.clearTimeout(handle)
  }

  private flush(): void {
    this.cancel = undefined
    if (this.closed) return
    const batch = [...this.pending.values()]
    this.pending.clear()
    for (const message of batch) {
      try {
        const result = this.handler(message)
        if (isPromise(result))
          Promise.resolve(result).catch((e: unknown) => this.env.fail(HoldfastError.from(e), false))
      } catch (error) {
        this.env.fail(HoldfastError.from(error), false)
      }
    }
  }

  close(): void {
    this.closed = true
    this.cancel?.()
    this.cancel = undefined
    this.pending.clear()
  }
}
