import { Redis } from 'ioredis'
import { afterEach, describe, expect, inject, it } from 'vitest'
import {
  createDispatcher,
  type Delivery,
  type Dispatcher,
  type DispatcherOptions,
  RedisDeliveryStore,
} from '../src/dispatcher/index'
import { runCli } from '../src/dispatcher/runCli'
import { sign } from '../src/index'
import { createReceiver, type ReceivedWebhook, RedisDedupeStore } from '../src/receiver/index'
import { fetchStub, PUBLIC_LOOKUP, SECRET, startServer, status, until } from './helpers'

const redisUrl = inject('redisUrl')
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function connect(): Redis {
  const redis = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
  cleanups.push(() => redis.quit().catch(() => redis.disconnect()))
  return redis
}

const freshPrefix = () => `holdfast-test:${globalThis.crypto.randomUUID()}`

function redisDispatcher(keyPrefix: string, options: DispatcherOptions = {}): Dispatcher {
  const dispatcher = createDispatcher({
    store: new RedisDeliveryStore({ redis: connect(), keyPrefix }),
    pollIntervalMs: 25,
    jitter: 0,
    onError: (error) => {
      throw error
    },
    ...options,
  })
  cleanups.push(() => dispatcher.close())
  return dispatcher
}

function delivery(id: string, nowMs: number): Delivery {
  return {
    id,
    messageId: `msg_${id}`,
    endpointId: 'ep_1',
    eventType: 'e',
    payload: '{}',
    createdAt: nowMs,
    queuedAt: nowMs,
    attempts: 0,
    nextAttemptAt: nowMs,
    status: 'pending',
    replays: 0,
  }
}

describe.skipIf(!redisUrl)('RedisDeliveryStore', () => {
  it('is durable: a delivery accepted by one dispatcher is delivered by a new one after the first is gone', async () => {
    const processed: ReceivedWebhook[] = []
    const receiver = createReceiver({ secret: SECRET, handler: (w) => void processed.push(w) })
    const server = await startServer(receiver)
    cleanups.push(() => server.close())
    const keyPrefix = freshPrefix()

    // Process 1 accepts the event and goes away before attempting it.
    const redis1 = new Redis(redisUrl!)
    const first = createDispatcher({
      store: new RedisDeliveryStore({ redis: redis1, keyPrefix }),
      autoStart: false,
      allowPrivateNetworks: true,
    })
    await first.addEndpoint({ url: server.url, eventTypes: ['*'], secrets: [SECRET], id: 'ep_durable' })
    const { messageId, deliveries } = await first.send({ eventType: 'order.shipped', payload: { order: 9 } })
    await first.close()
    await redis1.quit()
    expect(processed).toHaveLength(0)

    // Process 2: a new client and dispatcher on the same Redis.
    const second = redisDispatcher(keyPrefix, { allowPrivateNetworks: true })
    await until(() => processed.length === 1)
    await second.whenIdle()
    expect(processed[0]).toMatchObject({ id: messageId, payload: { order: 9 } })
    expect(await second.getDelivery(deliveries[0]!.id)).toBeUndefined()
  })

  it('is durable mid-schedule: a retry scheduled by a stopped dispatcher is made by its successor', async () => {
    const stub = fetchStub((_, index) => status(index === 0 ? 503 : 200))
    const keyPrefix = freshPrefix()
    const first = redisDispatcher(keyPrefix, {
      fetch: stub.fetch,
      lookup: PUBLIC_LOOKUP,
      retryDelaysMs: [300],
    })
    await first.addEndpoint({ url: 'https://hooks.example.com/', eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await first.send({ eventType: 'e', payload: {} })
    await until(() => stub.calls.length === 1)
    await first.whenIdle()
    await first.close()
    expect(await first.getDelivery(deliveries[0]!.id)).toMatchObject({ attempts: 1, status: 'pending' })

    const second = redisDispatcher(keyPrefix, {
      fetch: stub.fetch,
      lookup: PUBLIC_LOOKUP,
      retryDelaysMs: [300],
    })
    await until(() => stub.calls.length === 2)
    await second.whenIdle()
    expect(stub.calls[1]!.headers['webhook-id']).toBe(stub.calls[0]!.headers['webhook-id'])
    expect(second.metrics()).toMatchObject({ attempts: 1, succeeded: 1, retries: 1 })
    expect(await second.getDelivery(deliveries[0]!.id)).toBeUndefined()
  })

  it('a claim is a lease: a delivery whose holder died becomes due again, and the stale holder cannot settle it', async () => {
    const keyPrefix = freshPrefix()
    const storeA = new RedisDeliveryStore({ redis: connect(), keyPrefix })
    const storeB = new RedisDeliveryStore({ redis: connect(), keyPrefix })
    const now = Date.now()
    await storeA.enqueue([delivery('dlv_lease', now)])

    const [claimA] = await storeA.claimDue({ nowMs: now, limit: 10, leaseMs: 1000 })
    expect(claimA?.delivery.id).toBe('dlv_lease')
    expect(await storeB.claimDue({ nowMs: now + 999, limit: 10, leaseMs: 1000 })).toEqual([])
    const [claimB] = await storeB.claimDue({ nowMs: now + 1000, limit: 10, leaseMs: 1000 })
    expect(claimB?.delivery.id).toBe('dlv_lease')
    expect(claimB!.token).not.toBe(claimA!.token)

    expect(await storeA.complete(claimA!)).toBe(false)
    expect(await storeA.getDelivery('dlv_lease')).toBeDefined()
    expect(await storeB.complete(claimB!)).toBe(true)
    expect(await storeA.getDelivery('dlv_lease')).toBeUndefined()
  })

  it('claims atomically: concurrent claims from two stores never hand out the same delivery', async () => {
    const keyPrefix = freshPrefix()
    const stores = [connect(), connect()].map((redis) => new RedisDeliveryStore({ redis, keyPrefix }))
    const now = Date.now()
    await stores[0]!.enqueue(Array.from({ length: 60 }, (_, i) => delivery(`dlv_${i}`, now)))
    const batches = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stores[i % 2]!.claimDue({ nowMs: now, limit: 5, leaseMs: 60_000 }),
      ),
    )
    const ids = batches.flat().map((c) => c.delivery.id)
    expect(ids).toHaveLength(60)
    expect(new Set(ids).size).toBe(60)
  })

  it('two dispatcher processes on one Redis send each delivery exactly once', async () => {
    const keyPrefix = freshPrefix()
    const seen = new Map<string, number>()
    const stub = fetchStub(async (call) => {
      const id = call.headers['webhook-id']!
      seen.set(id, (seen.get(id) ?? 0) + 1)
      await new Promise((resolve) => setTimeout(resolve, 2))
      return status(200)
    })
    const producer = redisDispatcher(keyPrefix, { autoStart: false })
    await producer.addEndpoint({ url: 'https://hooks.example.com/', eventTypes: ['*'], secrets: [SECRET] })
    for (let n = 0; n < 40; n++) await producer.send({ eventType: 'e', payload: { n } })

    const workers = [1, 2].map(() =>
      redisDispatcher(keyPrefix, { fetch: stub.fetch, lookup: PUBLIC_LOOKUP, concurrency: 4 }),
    )
    await until(() => seen.size === 40)
    await Promise.all(workers.map((w) => w.whenIdle()))
    expect([...seen.values()].every((count) => count === 1)).toBe(true)
    expect(stub.calls).toHaveLength(40)
    const perWorker = workers.map((w) => w.metrics().attempts)
    expect(perWorker[0]! + perWorker[1]!).toBe(40)
  })

  it('dead-letter queue in Redis: list and replay through the API', async () => {
    let healthy = false
    const stub = fetchStub(() => status(healthy ? 200 : 500))
    const dispatcher = redisDispatcher(freshPrefix(), {
      fetch: stub.fetch,
      lookup: PUBLIC_LOOKUP,
      retryDelaysMs: [10],
    })
    await dispatcher.addEndpoint({ url: 'https://hooks.example.com/', eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    await until(() => stub.calls.length === 2)
    await dispatcher.whenIdle()
    const dead = await dispatcher.listDeadLetters()
    expect(dead.map((d) => [d.id, d.deadReason])).toEqual([[deliveries[0]!.id, 'exhausted']])

    healthy = true
    await dispatcher.replay(deliveries[0]!.id)
    await until(() => stub.calls.length === 3)
    await dispatcher.whenIdle()
    expect(await dispatcher.listDeadLetters()).toEqual([])
  })

  it('CLI: `dlq list` shows dead deliveries and `dlq replay <id>` requeues one for running dispatchers', async () => {
    const keyPrefix = freshPrefix()
    let healthy = false
    const stub = fetchStub(() => status(healthy ? 200 : 422))
    const dispatcher = redisDispatcher(keyPrefix, { fetch: stub.fetch, lookup: PUBLIC_LOOKUP })
    await dispatcher.addEndpoint({ url: 'https://hooks.example.com/', eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'invoice.paid', payload: {} })
    const id = deliveries[0]!.id
    await until(() => stub.calls.length === 1)
    await dispatcher.whenIdle()

    const cli = async (...argv: string[]) => {
      let out = ''
      let err = ''
      const code = await runCli({
        argv,
        env: {},
        stdout: (t) => {
          out += t
        },
        stderr: (t) => {
          err += t
        },
      })
      return { code, out, err }
    }
    const list = await cli('dlq', 'list', '--redis', redisUrl!, '--prefix', keyPrefix)
    expect(list.code).toBe(0)
    expect(list.out).toMatch(/^ID\s+ENDPOINT\s+EVENT\s+ATTEMPTS\s+REASON/)
    expect(list.out).toContain(id)
    expect(list.out).toMatch(/invoice\.paid\s+1\s+rejected/)
    expect(list.out).toContain('HTTP 422')
    const json = await cli('dlq', 'list', '--json', '--redis', redisUrl!, '--prefix', keyPrefix)
    expect(JSON.parse(json.out)).toMatchObject([{ id, deadReason: 'rejected' }])

    healthy = true
    const replay = await cli('dlq', 'replay', id, '--redis', redisUrl!, '--prefix', keyPrefix)
    expect(replay).toMatchObject({ code: 0, out: `replayed ${id}\n` })
    await until(() => stub.calls.length === 2)
    await dispatcher.whenIdle()
    expect((await cli('dlq', 'list', '--redis', redisUrl!, '--prefix', keyPrefix)).out).toBe(
      'The dead-letter queue is empty.\n',
    )

    const again = await cli('dlq', 'replay', id, '--redis', redisUrl!, '--prefix', keyPrefix)
    expect(again.code).toBe(1)
    expect(again.err).toContain('not in the dead-letter queue')
  })

  it('CLI: usage errors exit 2 and say what is missing', async () => {
    let err = ''
    const run = (argv: string[]) =>
      runCli({
        argv,
        env: {},
        stdout: () => {},
        stderr: (t) => {
          err += t
        },
      })
    expect(await run(['dlq', 'list'])).toBe(2)
    expect(err).toContain('--redis')
    expect(await run(['dlq', 'replay', '--redis', redisUrl!])).toBe(2)
    expect(await run(['queue', 'list'])).toBe(2)
    expect(await run(['dlq', 'list', '--bogus'])).toBe(2)
  })
})

describe.skipIf(!redisUrl)('RedisDedupeStore', () => {
  it('claims with SET NX and a 48 h TTL, and release() deletes the key', async () => {
    const redis = connect()
    const keyPrefix = `${freshPrefix()}:seen:`
    const store = new RedisDedupeStore({ redis, keyPrefix })
    const ttl = 48 * 3600_000
    expect(await store.claim('msg_1', ttl)).toBe(true)
    expect(await store.claim('msg_1', ttl)).toBe(false)
    const pttl = await redis.pttl(`${keyPrefix}msg_1`)
    expect(pttl).toBeGreaterThan(ttl - 10_000)
    expect(pttl).toBeLessThanOrEqual(ttl)
    await store.release('msg_1')
    expect(await store.claim('msg_1', ttl)).toBe(true)
  })

  it('two receiver processes sharing Redis process one delivery once', async () => {
    const keyPrefix = `${freshPrefix()}:seen:`
    const processed: string[] = []
    const receivers = [1, 2].map(() =>
      createReceiver({
        secret: SECRET,
        handler: (w) => void processed.push(w.id),
        dedupe: new RedisDedupeStore({ redis: connect(), keyPrefix }),
      }),
    )
    const body = '{"n":1}'
    const headers = await sign({ id: 'msg_shared', timestamp: new Date(), payload: body, secret: SECRET })
    const answers = await Promise.all(receivers.map((r) => r.handle({ headers, rawBody: body })))
    await Promise.all(receivers.map((r) => r.drain()))
    expect(processed).toEqual(['msg_shared'])
    expect(
      answers.map((a) => JSON.parse(a.body)).sort((a, b) => Number(!!a.duplicate) - Number(!!b.duplicate)),
    ).toEqual([{ ok: true }, { ok: true, duplicate: true }])
  })
})
