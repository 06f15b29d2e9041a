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
}

type Handler = (message: Message) => unknown

export function createDelivery(
  policy: DeliveryPolicy | undefined,
  handler: Handler,
  env: DeliveryEnv,
): Delivery {
  // Handler errors, thrown or rejected, are reported and never stop delivery.
  const report = (error: unknown): void => env.fail(HoldfastError.from(error), false)
  /** Calls the handler and reports a throw; returns its promise when it returned one. */
  const call = (message: Message): Promise<unknown> | undefined => {
    try {
      const result = handler(message)
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
        return Promise.resolve(result)
    } catch (error) {
      report(error)
    }
  }
  let closed = false
  // Each policy below supplies these three; `delivery` wraps them.
  let accept: (message: Message) => void
  let clear: () => void

  if (!policy || policy.policy === 'buffer') {
    const maxMessages = policy?.maxMessages ?? 1000
    const dropOldest = policy?.overflow === 'drop-oldest'
    const queue: Message[] = []
    let busy = false
    const run = (message: Message): void => {
      const done = call(message)
      if (!done) return
      busy = true
      done.then(next, (error: unknown) => {
        report(error)
        next()
      })
    }
    const next = (): void => {
      busy = false
      // Drain synchronous handlers in a loop; stop again at the next pending promise.
      while (!closed && !busy && queue.length > 0) run(queue.shift()!)
    }
    accept = (message) => {
      if (!busy) return run(message)
      if (queue.length >= maxMessages) {
        if (!dropOldest) {
          delivery.close()
          return env.fail(
            new HoldfastError(
              'slow_consumer',
              `subscriber fell ${maxMessages} messages behind; raise delivery.maxMessages or use 'latest'/'coalesce'`,
            ),
            true,
          )
        }
        queue.shift()
      }
      queue.push(message)
    }
    clear = () => {
      queue.length = 0
    }
  } else {
    const key = policy.policy === 'latest' ? () => 'latest' : policy.policy === 'coalesce' && policy.key
    if (typeof key !== 'function') {
      throw new HoldfastError(
        'bad_request',
        `delivery { policy: "${String((policy as { policy?: unknown }).policy)}" } is not valid: use 'buffer', 'latest', or 'coalesce' with a key(message) function`,
      )
    }
    const schedule = policy.schedule ?? (policy.policy === 'latest' ? 'tick' : 'frame')
    const pending = new Map<string, Message>()
    let cancel: (() => void) | undefined

    const flush = (): void => {
      cancel = undefined
      if (closed) return
      const batch = [...pending.values()]
      pending.clear()
      for (const message of batch) call(message)?.catch(report)
    }
    /** Schedules `flush` and returns how to cancel it. */
    const arm = (): (() => void) => {
      const { requestAnimationFrame: raf, cancelAnimationFrame: caf } = globalThis as {
        requestAnimationFrame?: (cb: () => void) => number
        cancelAnimationFrame?: (id: number) => void
      }
      if (schedule === 'frame' && raf && caf) {
        const id = raf(flush)
        return () => caf(id)
      }
      const handle = env.timers.setTimeout(
        flush,
        typeof schedule === 'number' ? schedule : schedule === 'frame' ? 16 : 0,
      )
      return () => env.timers.clearTimeout(handle)
    }

    accept = (message) => {
      let k: string
      try {
        k = String(key(message))
      } catch (error) {
        return report(error)
      }
      if (pending.has(k)) {
        // Delete first so the key moves to the end: flush order follows the newest update.
        pending.delete(k)
      }
      pending.set(k, message)
      cancel ??= arm()
    }
    clear = () => {
      cancel?.()
      cancel = undefined
      pending.clear()
    }
  }

  const delivery: Delivery = {
    push(message: Message) {
      if (!closed) accept(message)
    },
    close() {
      closed = true
      clear()
    },
  }
  return delivery
}
