import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type Message } from '../../src'
import { buffer, coalesce, latest, stream } from '../../src/delivery'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'

let fake = createFakeServer()
let client: HoldfastClient
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
const send = (channel: string, n: number, data: unknown = n) =>
  fake.last.send({ type: 'message', channel, cursor: `e1:${n}`, data })

beforeEach(async () => {
  vi.useFakeTimers()
  fake = createFakeServer()
  fake.server.listen({ onUnhandledRequest: 'error' })
  client = createClient({ url: BASE_URL, transports: ['websocket'], onOnline: false, heartbeat: false })
})
afterEach(() => {
  client.close()
  fake.server.close()
  vi.useRealTimers()
})

describe('the default delivery (no policy)', () => {
  test('calls the handler in order as each message arrives, without awaiting it; throws and rejections are reported', async () => {
    const seen: number[] = []
    const errors: string[] = []
    client.on('error', (e) => errors.push(e.message))
    client.subscribe('c', (m: Message) => {
      seen.push(m.data as number)
      if (m.data === 2) throw new Error('two')
      if (m.data === 3) return Promise.reject(new Error('three'))
      return new Promise<void>(() => {})
    })
    await tick(10)
    for (let i = 1; i <= 4; i++) send('c', i)
    await tick(1)
    expect(seen).toEqual([1, 2, 3, 4])
    expect(errors).toEqual(['[holdfast] two', '[holdfast] three'])
  })
})

describe('buffer()', () => {
  test('delivers every message in order; an async handler is awaited before the next one', async () => {
    const seen: number[] = []
    const releases: Array<() => void> = []
    client.subscribe(
      'c',
      (m: Message) => {
        seen.push(m.data as number)
        return new Promise<void>((r) => releases.push(r))
      },
      { delivery: buffer() },
    )
    await tick(10)
    for (let i = 1; i <= 3; i++) send('c', i)
    await tick(1)
    expect(seen).toEqual([1])
    releases.shift()!()
    await tick(1)
    expect(seen).toEqual([1, 2])
    releases.shift()!()
    await tick(1)
    expect(seen).toEqual([1, 2, 3])
  })

  test("overflow 'error' fails the subscriber with slow_consumer and unsubscribes it", async () => {
    const errors: string[] = []
    const seen: number[] = []
    client.subscribe(
      'c',
      (m) => {
        seen.push(m.data as number)
        return new Promise(() => {}) // never finishes: a stuck consumer
      },
      { delivery: buffer({ maxMessages: 3 }), onError: (e) => errors.push(e.code) },
    )
    await tick(10)
    for (let i = 1; i <= 6; i++) send('c', i)
    await tick(1)
    expect(seen).toEqual([1])
    expect(errors).toEqual(['slow_consumer'])
    expect(fake.last.frames.some((f) => f.type === 'unsubscribe')).toBe(true)
  })

  test("overflow 'drop-oldest' keeps the newest maxMessages", async () => {
    const seen: number[] = []
    let release!: () => void
    client.subscribe(
      'c',
      (m) => {
        seen.push(m.data as number)
        if (m.data === 1) return new Promise<void>((r) => (release = r))
      },
      { delivery: buffer({ maxMessages: 2, overflow: 'drop-oldest' }) },
    )
    await tick(10)
    for (let i = 1; i <= 6; i++) send('c', i)
    await tick(1)
    release()
    await tick(1)
    expect(seen).toEqual([1, 5, 6])
  })
})

describe('latest', () => {
  test('only the newest message is delivered, once per tick', async () => {
    const seen: number[] = []
    client.subscribe('price', (m) => seen.push(m.data as number), { delivery: latest() })
    await tick(10)
    for (let i = 1; i <= 50; i++) send('price', i)
    await tick(1)
    expect(seen).toEqual([50])
    send('price', 51)
    await tick(1)
    expect(seen).toEqual([50, 51])
  })
})

describe('coalesce', () => {
  test('merges by key and delivers at most once per schedule period', async () => {
    const seen: Array<[string, number]> = []
    client.subscribe(
      'dash',
      (m) => {
        const d = m.data as { k: string; v: number }
        seen.push([d.k, d.v])
      },
      { delivery: coalesce((m) => (m.data as { k: string }).k, 100) },
    )
    await tick(10)
    let n = 0
    for (let v = 1; v <= 100; v++) for (const k of ['a', 'b']) send('dash', ++n, { k, v })
    await tick(50)
    expect(seen).toEqual([])
    await tick(60)
    expect(seen).toEqual([
      ['a', 100],
      ['b', 100],
    ])
  })

  test('needs a key function', () => {
    expect(() => coalesce(undefined as never)).toThrow(/key/)
  })
})

describe('stream(client, channel)', () => {
  test('yields messages in order and unsubscribes when the loop ends', async () => {
    const messages = stream<number>(client, 'c')
    await tick(10)
    for (let i = 1; i <= 3; i++) send('c', i)
    await tick(1)
    const got: number[] = []
    for await (const m of messages) {
      got.push(m.data)
      if (got.length === 3) break
    }
    expect(got).toEqual([1, 2, 3])
    await tick(1)
    expect(fake.last.frames.some((f) => f.type === 'unsubscribe')).toBe(true)
  })

  test('a consumer past the high-water mark is told it is slow, after the buffered messages', async () => {
    const messages = stream<number>(client, 'c', { highWaterMark: 5 })
    await tick(10)
    for (let i = 1; i <= 10; i++) send('c', i)
    await tick(1)
    const got: number[] = []
    await expect(
      (async () => {
        for await (const m of messages) got.push(m.data)
      })(),
    ).rejects.toMatchObject({ code: 'slow_consumer' })
    expect(got).toEqual([1, 2, 3, 4, 5])
  })
})
