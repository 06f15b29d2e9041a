import type { HoldfastClient, SubscribeOptions } from '../core/HoldfastClient'
import type { Message } from '../core/types'
import { HoldfastError } from '../HoldfastError'

export interface StreamOptions<TData = unknown> extends Pick<SubscribeOptions<TData>, 'since' | 'onGap'> {
  /** Messages that may wait for the consumer. Defaults to 1000. */
  highWaterMark?: number
  /** Past the mark: end the stream with `slow_consumer` (default) or drop the oldest waiting message. */
  overflow?: 'error' | 'drop-oldest'
}

/**
 * A channel as an async iterator: `for await (const msg of stream(client, 'ticks'))`. A consumer more than
 * `highWaterMark` messages behind ends with a `slow_consumer` error; a refused channel ends with the
 * server's error (`forbidden`). Leaving the loop unsubscribes.
 */
export function stream<TData = unknown>(
  client: HoldfastClient,
  channel: string,
  options: StreamOptions<TData> = {},
): AsyncIterableIterator<Message<TData>> & { readonly backlog: number } {
  const highWaterMark = options.highWaterMark ?? 1000
  const queue: Message<TData>[] = []
  let waiter: { resolve(r: IteratorResult<Message<TData>>): void; reject(e: unknown): void } | undefined
  let failure: HoldfastError | undefined
  let done = false

  const finish = (error?: HoldfastError) => {
    if (done) return
    done = true
    subscription.unsubscribe()
    failure = error
    const w = waiter
    waiter = undefined
    if (error) w?.reject(error)
    else w?.resolve({ value: undefined, done: true })
  }

  const subscription = client.subscribe<TData>(
    channel,
    (message) => {
      if (done) return
      const w = waiter
      waiter = undefined
      if (w) return w.resolve({ value: message, done: false })
      if (queue.length >= highWaterMark) {
        if (options.overflow !== 'drop-oldest')
          return finish(
            new HoldfastError(
              'slow_consumer',
              `stream consumer fell ${highWaterMark} messages behind on "${channel}"`,
            ),
          )
        queue.shift()
      }
      queue.push(message)
    },
    {
      since: options.since,
      onGap: options.onGap,
      onError: (error) => {
        if (error.code === 'forbidden' || error.code === 'unauthorized') finish(error)
      },
    },
  )

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
