import { HoldfastError } from '../HoldfastError'
import type { Message, Subscription } from './types'

export interface StreamOptions {
  /** Messages that may wait for the consumer. Defaults to 1000. */
  highWaterMark?: number
  /** Past the mark: end the stream with `slow_consumer` (default) or drop the oldest waiting message. */
  overflow?: 'error' | 'drop-oldest'
}

/**
 * `for await (const msg of client.stream(channel))`. A consumer that falls more than
 * `highWaterMark` messages behind is a slow consumer and is told so with a `slow_consumer` error.
 */
export function createMessageStream<TData>(
  subscribe: (push: (message: Message<TData>) => void, fail: (error: HoldfastError) => void) => Subscription,
  options: StreamOptions = {},
): AsyncIterableIterator<Message<TData>> & { readonly backlog: number } {
  const highWaterMark = options.highWaterMark ?? 1000
  const overflow = options.overflow ?? 'error'
  const queue: Message<TData>[] = []
  let waiter: { resolve(r: IteratorResult<Message<TData>>): void; reject(e: unknown): void } | undefined
  let failure: HoldfastError | undefined
  let done = false

  /** Takes the pending `next()` call, if any, to settle it. */
  const takeWaiter = () => {
    const w = waiter
    waiter = undefined
    return w
  }

  const finish = (error?: HoldfastError) => {
    if (done) return
    done = true
    subscription.unsubscribe()
    failure = error
    const w = takeWaiter()
    if (error) w?.reject(error)
    else w?.resolve({ value: undefined, done: true })
  }

  const subscription = subscribe((message) => {
    if (done) return
    const w = takeWaiter()
    if (w) return w.resolve({ value: message, done: false })
    if (queue.length >= highWaterMark) {
      if (overflow === 'drop-oldest') queue.shift()
      else {
        finish(
          new HoldfastError(
            'slow_consumer',
            `stream consumer fell ${highWaterMark} messages behind on "${message.channel}"`,
          ),
        )
        return
      }
    }
    queue.push(message)
  }, finish)

  return {
    get backlog() {
      return queue.length
    },
    next() {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false })
      if (failure) return Promise.reject(failure)
      if (done) return Promise.resolve({ value: undefined, done: true })
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject }
      })
    },
    return() {
      finish()
      queue.length = 0
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}
