import { randomUUID } from 'node:crypto'
import { compareCursors, cursorEpoch, parseCursor } from '@holdfast/protocol'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { PUBLISH_SCRIPT } from '../src/broker/redisScripts'
import { createServer, type RedisBrokerOptions, redisBroker } from '../src/index'
import { describeBrokerContract } from './helpers/brokerContract'
import { describeFailoverDetection } from './helpers/failoverDetection'
import { connect, eventually, type TestSocket } from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'
import { describePresenceContract } from './helpers/presenceContract'
import { createTcpProxy } from './helpers/tcpProxy'

const redisUrl = inject('redisUrl')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const json = (v: unknown) => JSON.stringify(v)
const freshPrefix = () => `holdfast-test:${randomUUID()}:`

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function broker(options: Partial<RedisBrokerOptions> & { keyPrefix: string }) {
  const b = redisBroker({ url: redisUrl!, ...options })
  cleanups.push(() => b.close())
  return b
}

function raw(): Redis {
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
  cleanups.push(() => redis.quit().catch(() => redis.disconnect()))
  return redis
}

describe.skipIf(!redisUrl)('redisBroker', () => {
  describeBrokerContract('redisBroker', () => ({
    create: (options) => redisBroker({ url: redisUrl!, keyPrefix: freshPrefix(), ...options }),
    advance: async (ms) => {
      await sleep(ms)
    },
    // MAXLEN ~ trims whole stream nodes of 100 entries.
    trimSlack: 150,
  }))

  describePresenceContract('redisBroker', () => ({
    create: () => {
      const keyPrefix = freshPrefix()
      return {
        broker: redisBroker({ url: redisUrl!, keyPrefix }),
        twin: () => redisBroker({ url: redisUrl!, keyPrefix }),
      }
    },
    advance: async (ms) => {
      await sleep(ms)
    },
  }))

  describeFailoverDetection('redisBroker', () => ({
    broker: (keyPrefix, connectionName) =>
      redisBroker({ url: redisUrl!, keyPrefix, redisOptions: { connectionName } }),
    data: raw,
    nodeOf: async () => raw(),
    brokerBehindProxy: async (keyPrefix) => {
      const proxy = await createTcpProxy({ port: Number(new URL(redisUrl!).port) })
      const b = redisBroker({ url: proxy.redisUrl, keyPrefix, redisOptions: { retryStrategy: () => 20 } })
      return {
        broker: b,
        isolate: async () => {
          proxy.refuse(true)
          proxy.cut()
        },
        restore: () => proxy.refuse(false),
        close: () => proxy.close(),
      }
    },
  }))

  it('keeps history in a Redis Stream with a TTL, and derives each cursor from the stream entry id', async () => {
    const keyPrefix = freshPrefix()
    const b = broker({ keyPrefix, history: { size: 100, ttlMs: 60_000 } })
    const { cursor } = await b.publish('room.1', json({ hi: 1 }))
    expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,40}:\d+-\d+$/)
    const redis = raw()
    const entries = await redis.xrange(`${keyPrefix}{room.1}:log`, '-', '+')
    expect(entries).toHaveLength(1)
    expect(cursor).toBe(`${cursorEpoch(cursor)}:${entries[0]![0]}`)
    expect(entries[0]![1]).toEqual(['d', '{"hi":1}', 'p', '0'])
    expect(await redis.hget(`${keyPrefix}{room.1}:meta`, 'epoch')).toBe(cursorEpoch(cursor))
    for (const key of [`${keyPrefix}{room.1}:log`, `${keyPrefix}{room.1}:meta`]) {
      const ttl = await redis.pttl(key)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
    }
  })

  it('shares every log across processes: any broker resumes any cursor and sees every live message', async () => {
    const keyPrefix = freshPrefix()
    const a = broker({ keyPrefix })
    const b = broker({ keyPrefix })
    const seenByB: string[] = []
    await b.subscribe('chat', (m) => seenByB.push(m.cursor))
    const first = await a.publish('chat', json(1))
    const second = await b.publish('chat', json(2))
    expect(cursorEpoch(first.cursor)).toBe(cursorEpoch(second.cursor))
    const resumed = await b.read('chat', { since: first.cursor })
    expect(resumed.recovered).toBe(true)
    expect(resumed.messages.map((m) => m.cursor)).toEqual([second.cursor])
    await eventually(() => expect(seenByB).toEqual([first.cursor, second.cursor]))
  })

  it('publishes an idempotency key once across processes, answering the first cursor to every racer', async () => {
    const keyPrefix = freshPrefix()
    const a = broker({ keyPrefix })
    const b = broker({ keyPrefix })
    const { epoch } = await a.read('orders')
    const keys = Array.from({ length: 25 }, (_, i) => `order-${i}`)
    const results = await Promise.all(
      keys.flatMap((key) => [
        a.publish('orders', json(key), { idempotencyKey: key }),
        b.publish('orders', json(key), { idempotencyKey: key }),
      ]),
    )
    for (let i = 0; i < keys.length; i++) {
      const [x, y] = [results[2 * i]!, results[2 * i + 1]!]
      expect(x.cursor).toBe(y.cursor)
      expect([x.duplicate, y.duplicate].filter((d) => !d)).toHaveLength(1)
    }
    const stored = await b.read('orders', { since: `${epoch}:0` })
    expect(stored.messages.map((m) => JSON.parse(m.json)).sort()).toEqual([...keys].sort())
    expect(await raw().pttl(`${keyPrefix}{orders}:idem:order-0`)).toBeGreaterThan(200_000)
  })

  it('survives a process restart: a new broker on the same Redis keeps the epoch and resumes every cursor', async () => {
    const keyPrefix = freshPrefix()
    const before = redisBroker({ url: redisUrl!, keyPrefix })
    const one = await before.publish('news', json(1))
    const two = await before.publish('news', json(2))
    await before.close()
    const after = broker({ keyPrefix })
    const three = await after.publish('news', json(3))
    expect(cursorEpoch(three.cursor)).toBe(cursorEpoch(one.cursor))
    const read = await after.read('news', { since: one.cursor })
    expect(read.recovered).toBe(true)
    expect(read.messages.map((m) => m.cursor)).toEqual([two.cursor, three.cursor])
  })

  it('starts a new epoch and says recovered:false when the log is gone from Redis', async () => {
    const keyPrefix = freshPrefix()
    const b = broker({ keyPrefix })
    const { cursor } = await b.publish('lost', json(1))
    await raw().del(`${keyPrefix}{lost}:meta`, `${keyPrefix}{lost}:log`)
    const read = await b.read('lost', { since: cursor })
    expect(read.recovered).toBe(false)
    expect(read.epoch).not.toBe(cursorEpoch(cursor))
    // Only the metadata gone: the stream left behind is not trusted either.
    const next = await b.publish('lost', json(2))
    await raw().del(`${keyPrefix}{lost}:meta`)
    const again = await b.read('lost', { since: `${cursorEpoch(next.cursor)}:0` })
    expect(again).toMatchObject({ recovered: false, messages: [] })
  })

  it('expires history ttlMs after the last publish; an old cursor then reads recovered:false', async () => {
    const b = broker({ keyPrefix: freshPrefix(), history: { ttlMs: 150 } })
    const { cursor } = await b.publish('short', json(1))
    expect((await b.read('short', { since: cursor })).recovered).toBe(true)
    await sleep(400)
    const read = await b.read('short', { since: cursor })
    expect(read.recovered).toBe(false)
    expect(read.messages).toEqual([])
  })

  it('keeps a subscribed, quiet channel in its epoch past the TTL, so a caught-up reader is not told of a gap', async () => {
    const keyPrefix = freshPrefix()
    // The keep-alive runs on this clock, so it fires when the test says, not when a busy machine gets to it.
    const clock = new ManualClock()
    const ttlMs = 60_000
    const b = broker({ keyPrefix, history: { ttlMs }, clock })
    const stop = await b.subscribe('quiet', () => {})
    const { cursor: first } = await b.publish('quiet', json(1))
    // Redis expires the log a TTL after the last publish (done by hand here), and the channel's metadata
    // (its epoch) would go with it, were nobody listening: only a second of it is left.
    await raw().del(`${keyPrefix}{quiet}:log`)
    await raw().pexpire(`${keyPrefix}{quiet}:meta`, 1000)
    clock.advance(ttlMs / 3)
    await eventually(async () =>
      expect(await raw().pttl(`${keyPrefix}{quiet}:meta`)).toBeGreaterThan(ttlMs / 2),
    )
    expect(await b.read('quiet', { since: first })).toMatchObject({ recovered: true, messages: [] })
    const { cursor: second } = await b.publish('quiet', json(2))
    expect(cursorEpoch(second)).toBe(cursorEpoch(first))
    expect(compareCursors(first, second)).toBeLessThan(0)
    const read = await b.read('quiet', { since: first })
    expect(read.recovered).toBe(true)
    expect(read.messages.map((m) => m.cursor)).toEqual([second])
    // The first message itself is gone, and a reader from before it is told so.
    expect((await b.read('quiet', { since: `${cursorEpoch(first)}:0` })).recovered).toBe(false)
    stop()
  })

  it('runs its scripts by SHA and loads them again when Redis has forgotten them (NOSCRIPT)', async () => {
    const b = broker({ keyPrefix: freshPrefix() })
    await b.publish('s', json(1))
    const redis = raw()
    await redis.script('FLUSH')
    const { cursor } = await b.publish('s', json(2))
    expect((await b.read('s', { since: cursor })).recovered).toBe(true)
    const { createHash } = await import('node:crypto')
    const sha = createHash('sha1').update(PUBLISH_SCRIPT).digest('hex')
    expect(await redis.script('EXISTS', sha)).toEqual([1])
  })

  it('fails fast with a clear message, and no password, when Redis cannot be reached', async () => {
    const b = redisBroker({
      url: 'redis://:hunter2-secret@127.0.0.1:1',
      redisOptions: { retryStrategy: () => 50 },
    })
    cleanups.push(() => b.close())
    const error = await b.ready(300).then(
      () => null,
      (e: Error) => e,
    )
    expect(error?.message).toMatch(/could not reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
    expect(error?.message).not.toContain('hunter2')
  })

  describe('when the subscriber connection drops', () => {
    async function throughProxy(keyPrefix: string) {
      const port = Number(new URL(redisUrl!).port)
      const proxy = await createTcpProxy({ port })
      cleanups.push(() => proxy.close())
      const b = broker({
        url: proxy.redisUrl,
        keyPrefix,
        redisOptions: { retryStrategy: () => 20 },
      })
      await b.ready()
      return { proxy, broker: b }
    }

    it('fires onResync after resubscribing and before delivering anything newer', async () => {
      const keyPrefix = freshPrefix()
      const a = broker({ keyPrefix })
      const { proxy, broker: b } = await throughProxy(keyPrefix)
      const log: Array<string | number> = []
      b.onResync(() => log.push('resync'))
      await b.subscribe('r', (m) => log.push(JSON.parse(m.json) as number))
      await a.publish('r', json(1))
      await a.publish('r', json(2))
      await eventually(() => expect(log).toEqual([1, 2]))

      proxy.refuse(true)
      proxy.cut()
      await sleep(50)
      // Published while B's subscriber is away: B's live feed never sees these.
      for (let i = 3; i <= 5; i++) await a.publish('r', json(i))
      // A flood across the reconnect, so messages race the resubscription.
      let next = 6
      let flooding = true
      const flood = (async () => {
        while (flooding && next <= 2000) {
          const batch = []
          for (let k = 0; k < 20; k++) batch.push(a.publish('r', json(next++)))
          await Promise.all(batch)
          await sleep(1)
        }
      })()
      await sleep(30)
      // The resubscribe confirmations and the messages right behind them arrive in one read: any message
      // handed out before the resync would show up ahead of it in the log.
      proxy.batchDownstream(40)
      proxy.refuse(false)
      await eventually(() => expect(log).toContain('resync'))
      flooding = false
      await flood
      // However far the flood got on this machine, a message published now is delivered after the resync.
      const marker = next
      await a.publish('r', json(marker))
      await eventually(() => expect(log).toContain(marker))
      const at = log.indexOf('resync')
      expect(log.slice(0, at)).toEqual([1, 2])
      expect(log.slice(at + 1).every((x) => typeof x === 'number' && x > 5)).toBe(true)
      expect(log.indexOf(marker)).toBeGreaterThan(at)
      expect(log.filter((x) => x === 'resync')).toHaveLength(1)
    })

    it('a WebSocket subscriber on that process still gets every message, in order, without reconnecting', async () => {
      const keyPrefix = freshPrefix()
      const a = broker({ keyPrefix })
      const { proxy, broker: b } = await throughProxy(keyPrefix)
      const server = createServer({ broker: b })
      await server.listen(0, { host: '127.0.0.1' })
      cleanups.push(() => server.close({ timeoutMs: 500 }))
      const socket: TestSocket = await connect(server as { url: string })
      socket.send({ type: 'subscribe', id: 1, channel: 'feed' })
      await socket.nextOfType('subscribed')
      for (let i = 1; i <= 10; i++) await a.publish('feed', json(i))
      await eventually(() => expect(socket.messages('feed')).toHaveLength(10))
      proxy.refuse(true)
      proxy.cut()
      await sleep(50)
      for (let i = 11; i <= 30; i++) await a.publish('feed', json(i))
      proxy.refuse(false)
      for (let i = 31; i <= 60; i++) {
        await a.publish('feed', json(i))
        await sleep(2)
      }
      await eventually(() => expect(socket.messages('feed')).toHaveLength(60))
      expect(socket.messages('feed').map((m) => m.data)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1))
      expect(socket.ws.readyState).toBe(socket.ws.OPEN)
    })
  })

  describe('two servers sharing one Redis', () => {
    async function twoServers() {
      const keyPrefix = freshPrefix()
      const servers = []
      for (let i = 0; i < 2; i++) {
        const server = createServer({ broker: broker({ keyPrefix }) })
        await server.listen(0, { host: '127.0.0.1' })
        cleanups.push(() => server.close({ timeoutMs: 500 }))
        servers.push(server as typeof server & { url: string })
      }
      return servers as [(typeof servers)[0], (typeof servers)[0]]
    }

    it('a client resumes on the other server with nothing lost and recovered:true', async () => {
      const [a, b] = await twoServers()
      const onA = await connect(a)
      onA.send({ type: 'subscribe', id: 1, channel: 'room' })
      await onA.nextOfType('subscribed')
      for (let i = 1; i <= 5; i++) await a.publish('room', i)
      await eventually(() => expect(onA.messages('room')).toHaveLength(5))
      const last = onA.messages('room').at(-1)!.cursor as string
      onA.ws.close()
      for (let i = 6; i <= 9; i++) await a.publish('room', i)
      const onB = await connect(b)
      onB.send({ type: 'subscribe', id: 1, channel: 'room', since: last })
      expect(await onB.nextOfType('subscribed')).toMatchObject({ recovered: true })
      await b.publish('room', 10)
      await eventually(() => expect(onB.messages('room').map((m) => m.data)).toEqual([6, 7, 8, 9, 10]))
    })

    it('stores a publish once when its idempotency key is retried on the other server', async () => {
      const [a, b] = await twoServers()
      const socket = await connect(a)
      socket.send({ type: 'publish', id: 1, channel: 'pay', data: { amount: 5 }, key: 'pay-42' })
      const ack = await socket.nextOfType('ack')
      const retried = await fetch(`${b.url}/publish`, {
        method: 'POST',
        headers: { 'idempotency-key': 'pay-42' },
        body: JSON.stringify({ channel: 'pay', data: { amount: 5 } }),
      })
      expect(await retried.json()).toEqual({ cursor: ack.cursor, duplicate: true })
      const poll = await (
        await fetch(
          `${b.url}/poll?channel=pay&since=${encodeURIComponent(`pay=${cursorEpoch(ack.cursor)}:0`)}`,
        )
      ).json()
      expect(poll.messages).toEqual([{ channel: 'pay', cursor: ack.cursor, data: { amount: 5 } }])
      expect(parseCursor(ack.cursor)).not.toBeNull()
    })
  })
})
