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

  const finish = (error?: HoldfastError) => {
    if (done) return
    done = true
    subscription.unsubscribe()
    failure = error
    if (waiter) {
      const w = waiter
      waiter = undefined
      if (error) w.reject(error)
      else w.resolve({ value: undefined, done: true })
    }
  }

  const subscription = subscribe(
    (message) => {
      if (done) return
      if (waiter) {
        const w = waiter
        waiter = undefined
        w.resolve({ value: message, done: false })
        return
      }
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
    },
    (error) => finish(error),
  )

  return {
    get backlog() {
      return queue.length
    },
    next() {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false })
      if (failure) {
        const error = failure
        return Promise.reject(error)
      }
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
