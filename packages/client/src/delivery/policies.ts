import type { DeliveryEnv, DeliveryPolicy } from '../core/HoldfastClient'
import type { Message } from '../core/types'
import { HoldfastError } from '../HoldfastError'

/** When a `latest` or `coalesce` subscription flushes: next macrotask, next animation frame, or every N ms. */
export type DeliverySchedule = 'tick' | 'frame' | number

/** Calls the handler; a throw or rejection is reported and never stops delivery. Returns its promise, if any. */
function caller<TData>(handler: (message: Message<TData>) => unknown, env: DeliveryEnv) {
  const report = (error: unknown) => env.fail(HoldfastError.from(error), false)
  return (message: Message<TData>): Promise<unknown> | undefined => {
    try {
      const result = handler(message) as PromiseLike<unknown> | undefined
      if (typeof result?.then === 'function') return Promise.resolve(result).catch(report)
    } catch (error) {
      report(error)
    }
  }
}

/**
 * Every message, in order. An async handler is awaited before the next message; meanwhile messages wait
 * in a bounded buffer (`maxMessages`, default 1000). On overflow the subscription fails with
 * `slow_consumer` and is unsubscribed (`overflow: 'error'`, default) or the oldest waiting message is
 * dropped (`'drop-oldest'`).
 */
export function buffer<TData = unknown>(
  options: { maxMessages?: number; overflow?: 'drop-oldest' | 'error' } = {},
): DeliveryPolicy<TData> {
  const maxMessages = options.maxMessages ?? 1000
  return (handler, env) => {
    const call = caller(handler, env)
    const queue: Message<TData>[] = []
    let busy = false
    let closed = false
    const next = (): void => {
      busy = false
      // Drain synchronous handlers in a loop; stop again at the next pending promise.
      while (!closed && !busy && queue.length > 0) {
        const done = call(queue.shift()!)
        if (done) {
          busy = true
          done.then(next)
        }
      }
    }
    return {
      push(message) {
        if (closed) return
        if (queue.length >= maxMessages) {
          if (options.overflow !== 'drop-oldest') {
            closed = true
            queue.length = 0
            return env.fail(
              new HoldfastError(
                'slow_consumer',
                `subscriber fell ${maxMessages} messages behind; raise maxMessages or use latest()/coalesce()`,
              ),
              true,
            )
          }
          queue.shift()
        }
        queue.push(message)
        if (!busy) next()
      },
      close() {
        closed = true
        queue.length = 0
      },
    }
  }
}

/** Only the newest message, at most once per `schedule` (default: next macrotask). For prices, sensor readings. */
export function latest<TData = unknown>(schedule: DeliverySchedule = 'tick'): DeliveryPolicy<TData> {
  return coalesce<TData>(() => '', schedule)
}

/**
 * The newest message per `key(message)`, at most once per `schedule` (default: next animation frame,
 * else 16 ms). For dashboards and charts. Throws `bad_request` without a key function.
 */
export function coalesce<TData = unknown>(
  key: (message: Message<TData>) => string,
  schedule: DeliverySchedule = 'frame',
): DeliveryPolicy<TData> {
  if (typeof key !== 'function')
    throw new HoldfastError('bad_request', 'coalesce(key) needs a key(message) function')
  return (handler, env) => {
    const call = caller(handler, env)
    const pending = new Map<string, Message<TData>>()
    let cancel: (() => void) | undefined
    const flush = () => {
      cancel = undefined
      const batch = [...pending.values()]
      pending.clear()
      for (const message of batch) call(message)
    }
    return {
      push(message) {
        let k: string
        try {
          k = String(key(message))
        } catch (error) {
          return env.fail(HoldfastError.from(error), false)
        }
        // Delete first so the key moves to the end: flush order follows the newest update.
        pending.delete(k)
        pending.set(k, message)
        if (cancel) return
        const { requestAnimationFrame: raf, cancelAnimationFrame: caf } = globalThis
        if (schedule === 'frame' && raf && caf) {
          const id = raf(flush)
          cancel = () => caf(id)
        } else {
          const handle = env.timers.setTimeout(
            flush,
            typeof schedule === 'number' ? schedule : schedule === 'frame' ? 16 : 0,
          )
          cancel = () => env.timers.clearTimeout(handle)
        }
      },
      close() {
        cancel?.()
        cancel = undefined
        pending.clear()
      },
    }
  }
}
