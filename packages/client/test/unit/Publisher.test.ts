import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { Publisher } from '../../src/core/Publisher'
import { HoldfastError } from '../../src/HoldfastError'
import type { Transport } from '../../src/transports/Transport'

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

/** A pipelining transport whose publishes the test answers one by one. */
function pipeline() {
  const wire: { data: unknown; resolve(cursor: string): void; refuse(error: HoldfastError): void }[] = []
  const transport = {
    name: 'websocket',
    concurrency: Number.POSITIVE_INFINITY,
    publish: ({ data }: { data: unknown }) =>
      new Promise((resolve, reject) =>
        wire.push({
          data,
          resolve: (cursor) => resolve({ cursor, duplicate: false }),
          refuse: reject,
        }),
      ),
  } as unknown as Transport
  return { transport, wire }
}

function queueOn(transport: Transport) {
  const done: unknown[] = []
  const publisher = new Publisher(
    {},
    { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as never) },
    Date.now,
    {
      transport: () => transport,
      blocked: () => false,
      retryMs: () => 50,
    },
  )
  const add = (data: unknown) =>
    publisher.add({
      channel: 'c',
      data,
      key: `k${data}`,
      bytes: 1,
      resolve: () => done.push(data),
      reject: (error) => done.push(error),
    })
  return { publisher, add, done }
}

const rateLimited = (ms: number) =>
  new HoldfastError('rate_limited', 'publishing too fast', { retryAfterMs: ms })

test('after a rate_limited refusal nothing is sent until retryAfterMs, then the refused publish first', async () => {
  const { transport, wire } = pipeline()
  const { publisher, add } = queueOn(transport)
  for (const n of [1, 2, 3]) add(n)
  publisher.flush()
  expect(wire.map((w) => w.data)).toEqual([1, 2, 3])
  wire[0]!.refuse(rateLimited(200))
  wire[1]!.resolve('e:1') // the server let a later one through (a server without the hold)
  wire[2]!.refuse(rateLimited(200))
  await vi.advanceTimersByTimeAsync(0)
  add(4)
  publisher.flush()
  await vi.advanceTimersByTimeAsync(199)
  // Held: neither the refused ones nor the new one went out, although an ack and a new publish asked to flush.
  expect(wire.map((w) => w.data)).toEqual([1, 2, 3])
  await vi.advanceTimersByTimeAsync(1)
  expect(wire.slice(3).map((w) => w.data)).toEqual([1, 3, 4])
})

test('each refusal restarts the wait: the queue goes again only after the last one', async () => {
  const { transport, wire } = pipeline()
  const { publisher, add } = queueOn(transport)
  for (const n of [1, 2]) add(n)
  publisher.flush()
  wire[0]!.refuse(rateLimited(100))
  await vi.advanceTimersByTimeAsync(60)
  wire[1]!.refuse(rateLimited(100))
  await vi.advanceTimersByTimeAsync(99)
  expect(wire).toHaveLength(2)
  await vi.advanceTimersByTimeAsync(1)
  expect(wire.slice(2).map((w) => w.data)).toEqual([1, 2])
})

test('a new connection (unsent) ends the hold at once: everything goes again in order', async () => {
  const { transport, wire } = pipeline()
  const { publisher, add } = queueOn(transport)
  for (const n of [1, 2]) add(n)
  publisher.flush()
  wire[0]!.refuse(rateLimited(10_000))
  await vi.advanceTimersByTimeAsync(0)
  publisher.unsent()
  publisher.flush()
  expect(wire.slice(2).map((w) => w.data)).toEqual([1, 2])
})
