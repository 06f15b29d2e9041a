import { describe, expect, it } from 'vitest'
import { ChannelFeed, type FeedFailure, type FeedSink } from '../src/delivery/ChannelFeed'
import { type Broker, createStoredMessage, memoryBroker, type StoredMessage } from '../src/index'
import { silentLogger } from '../src/Logger'
import type { ResyncListener } from '../src/ServerContext'

/** A connection whose buffer only empties when the test says so. */
function fakeSink() {
  const written: StoredMessage[] = []
  const failures: FeedFailure[] = []
  const drops: string[] = []
  const live: boolean[] = []
  let buffered = 0
  let wake: (() => void) | undefined
  const sink: FeedSink = {
    write(message, isLive) {
      written.push(message)
      live.push(isLive)
      buffered += message.frame.length
    },
    dropped: (reason) => drops.push(reason),
    bufferedBytes: () => buffered,
    drained: () =>
      new Promise<void>((resolve) => {
        wake = resolve
      }),
    fail: (reason) => failures.push(reason),
  }
  return {
    sink,
    written,
    failures,
    drops,
    live,
    flush() {
      buffered = 0
      wake?.()
      wake = undefined
    },
    get waiting() {
      return wake !== undefined
    },
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

async function filledBroker(count: number, bytes: number): Promise<{ broker: Broker; epoch: string }> {
  const broker = memoryBroker()
  const { epoch } = await broker.read('c')
  for (let n = 1; n <= count; n++) await broker.publish('c', JSON.stringify({ n, pad: 'p'.repeat(bytes) }))
  return { broker, epoch }
}

describe('ChannelFeed', () => {
  it('paces a replay larger than the send buffer by waiting for drains, instead of failing the consumer', async () => {
    const { broker, epoch } = await filledBroker(100, 1000)
    const fake = fakeSink()
    const feed = new ChannelFeed(
      { broker, maxBufferedBytes: 10_000, logger: silentLogger, resyncListeners: new Set(), pageSize: 30 },
      { channel: 'c', since: `${epoch}:0`, sink: fake.sink },
    )
    const first = await feed.open()
    feed.start(first!)
    await tick()
    // Stops at about half the buffer and waits.
    expect(fake.waiting).toBe(true)
    expect(fake.written.length).toBeGreaterThan(0)
    expect(fake.written.length).toBeLessThan(10)
    // Live messages published meanwhile wait behind the replay.
    await broker.publish('c', JSON.stringify({ n: 101 }))
    while (fake.written.length < 101) {
      fake.flush()
      await tick()
    }
    expect(fake.failures).toEqual([])
    expect(fake.written.map((m) => JSON.parse(m.json).n)).toEqual(
      Array.from({ length: 101 }, (_, i) => i + 1),
    )
    feed.close()
    await broker.close()
  })

  it('gives up as a slow consumer when live messages pile up behind a stalled replay', async () => {
    const { broker, epoch } = await filledBroker(20, 1000)
    const fake = fakeSink()
    const feed = new ChannelFeed(
      { broker, maxBufferedBytes: 10_000, logger: silentLogger, resyncListeners: new Set() },
      { channel: 'c', since: `${epoch}:0`, sink: fake.sink },
    )
    feed.start((await feed.open())!)
    await tick()
    expect(fake.waiting).toBe(true)
    for (let n = 0; n < 20 && fake.failures.length === 0; n++)
      await broker.publish('c', JSON.stringify({ pad: 'q'.repeat(1000) }))
    expect(fake.failures).toEqual(['slow_consumer'])
    expect(feed.closed).toBe(true)
    await broker.close()
  })

  for (const policy of ['drop', 'latest'] as const)
    it(`keeps the subscription under the '${policy}' policy when live messages pile up behind a stalled replay`, async () => {
      const { broker, epoch } = await filledBroker(20, 1000)
      const fake = fakeSink()
      const feed = new ChannelFeed(
        { broker, maxBufferedBytes: 10_000, logger: silentLogger, resyncListeners: new Set() },
        { channel: 'c', since: `${epoch}:0`, sink: fake.sink, policy },
      )
      feed.start((await feed.open())!)
      await tick()
      expect(fake.waiting).toBe(true)
      for (let n = 1; n <= 20; n++)
        await broker.publish('c', JSON.stringify({ live: n, pad: 'q'.repeat(1000) }))
      expect(fake.failures).toEqual([])
      expect(fake.drops.length).toBeGreaterThan(0)
      expect(new Set(fake.drops)).toEqual(new Set([policy]))
      while (fake.waiting) {
        fake.flush()
        await tick()
      }
      const liveSent = fake.written.filter((_, i) => fake.live[i]).map((m) => JSON.parse(m.json).live)
      expect(fake.written.filter((_, i) => !fake.live[i])).toHaveLength(20)
      if (policy === 'latest') expect(liveSent).toEqual([20])
      else {
        // The first ones that fitted were kept, the rest dropped; nothing out of order.
        expect(liveSent).toEqual(Array.from({ length: liveSent.length }, (_, i) => i + 1))
        expect(liveSent.length + fake.drops.length).toBe(20)
      }
      expect(feed.closed).toBe(false)
      feed.close()
      await broker.close()
    })

  it('reports lost history when a live message comes from another epoch', async () => {
    const listeners = new Set<(m: StoredMessage) => void>()
    const broker: Broker = {
      publish: async () => ({ cursor: 'e1:1', duplicate: false }),
      read: async () => ({
        epoch: 'e1',
        head: 'e1:0',
        from: 'e1:0',
        recovered: true,
        messages: [],
        more: false,
      }),
      subscribe: async (_channel, listener) => {
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
      onResync: () => () => {},
      close: async () => {},
    }
    const fake = fakeSink()
    const feed = new ChannelFeed(
      { broker, maxBufferedBytes: 10_000, logger: silentLogger, resyncListeners: new Set() },
      { channel: 'c', sink: fake.sink },
    )
    feed.start((await feed.open())!)
    await tick()
    for (const listener of listeners)
      listener(createStoredMessage({ channel: 'c', cursor: 'e1:1', json: '1', time: 0 }))
    for (const listener of listeners)
      listener(createStoredMessage({ channel: 'c', cursor: 'e2:1', json: '2', time: 0 }))
    expect(fake.written.map((m) => m.json)).toEqual(['1'])
    expect(fake.failures).toEqual(['history_lost'])
    expect(listeners.size).toBe(0)
  })

  it('re-reads on a resync that names its channel or none, and ignores one that names only others', async () => {
    const broker = memoryBroker()
    const { epoch } = await broker.read('c')
    await broker.publish('c', JSON.stringify(1))
    let reads = 0
    const counting: Broker = {
      ...broker,
      read: (channel, options) => {
        reads++
        return broker.read(channel, options)
      },
    }
    const resyncListeners = new Set<ResyncListener>()
    const fake = fakeSink()
    const feed = new ChannelFeed(
      { broker: counting, maxBufferedBytes: 10_000, logger: silentLogger, resyncListeners },
      { channel: 'c', since: `${epoch}:0`, sink: fake.sink },
    )
    feed.start((await feed.open())!)
    while (fake.written.length < 1) await tick()
    const resync = async (channels?: ReadonlySet<string>) => {
      const before = reads
      for (const listener of resyncListeners) listener.resync(channels)
      for (let i = 0; i < 5; i++) await tick()
      return reads - before
    }
    expect(await resync(new Set(['other', 'c.more']))).toBe(0)
    expect(await resync(new Set(['other', 'c']))).toBe(1)
    expect(await resync()).toBe(1)
    expect(fake.failures).toEqual([])
    feed.close()
    await broker.close()
  })
})
