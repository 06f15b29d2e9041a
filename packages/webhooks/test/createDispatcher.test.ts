import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createDispatcher,
  DEFAULT_RETRY_DELAYS_MS,
  type DispatcherEvent,
  type DispatcherOptions,
  MemoryDeliveryStore,
  WebhookVerificationError,
} from '../src/dispatcher/index'
import { verify } from '../src/index'
import { fetchStub, PUBLIC_LOOKUP, resolvesTo, runToEnd, SECRET, status, step, until } from './helpers'

const T0 = Date.parse('2026-11-24T10:00:00Z')
const URL_A = 'https://hooks.example.com/a'

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  vi.setSystemTime(T0)
})
afterEach(() => {
  vi.useRealTimers()
})

function setup(respond: Parameters<typeof fetchStub>[0], options: DispatcherOptions = {}) {
  const stub = fetchStub(respond)
  const events: DispatcherEvent[] = []
  const store = options.store ?? new MemoryDeliveryStore()
  const dispatcher = createDispatcher({
    fetch: stub.fetch,
    lookup: PUBLIC_LOOKUP,
    store,
    onEvent: (event) => events.push(event),
    onError: (error) => {
      throw error
    },
    ...options,
  })
  return { ...stub, events, store, dispatcher }
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!)

describe('retry schedule and jitter (fake timers)', () => {
  it('retries on the default schedule: immediate, then 5 s … 24 h, each at d·(1−0.2) when random() is 0', async () => {
    const { dispatcher, calls, events } = setup(() => status(500), { random: () => 0 })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'invoice.paid', payload: { n: 1 } })
    await runToEnd(dispatcher)

    expect(calls).toHaveLength(DEFAULT_RETRY_DELAYS_MS.length + 1)
    expect(calls[0]!.at).toBe(T0)
    expect(gaps(calls.map((c) => c.at))).toEqual(DEFAULT_RETRY_DELAYS_MS.map((d) => Math.round(d * 0.8)))
    const dead = events.filter((e) => e.type === 'dead_lettered')
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ reason: 'exhausted', delivery: { attempts: 10, status: 'dead' } })
  })

  it('keeps every wait inside [d·0.8, d·1.2] and follows random()', async () => {
    const randoms = [0.999999, 0.25, 0.5, 0.75, 0, 0.1, 0.9, 0.33, 0.66]
    let i = 0
    const { dispatcher, calls } = setup(() => status(503), { random: () => randoms[i++ % randoms.length]! })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)

    const observed = gaps(calls.map((c) => c.at))
    expect(observed).toHaveLength(9)
    observed.forEach((gap, k) => {
      const d = DEFAULT_RETRY_DELAYS_MS[k]!
      expect(gap).toBeGreaterThanOrEqual(d * 0.8)
      expect(gap).toBeLessThanOrEqual(d * 1.2)
      expect(gap).toBe(Math.round(d * (0.8 + 0.4 * randoms[k]!)))
    })
  })

  it('uses a configured short schedule and jitter', async () => {
    const { dispatcher, calls } = setup(() => status(502), {
      retryDelaysMs: [1000, 5000, 30000, 300000, 1800000],
      jitter: 0,
    })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(gaps(calls.map((c) => c.at))).toEqual([1000, 5000, 30000, 300000, 1800000])
  })

  it('stops retrying once a retry succeeds: exactly one delivered event', async () => {
    const { dispatcher, calls, events } = setup((_, index) => status(index < 2 ? 500 : 204), { jitter: 0 })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(3)
    expect(events.filter((e) => e.type === 'delivered')).toHaveLength(1)
    expect(await dispatcher.getDelivery(deliveries[0]!.id)).toBeUndefined()
    expect(await dispatcher.listDeadLetters()).toEqual([])
  })
})

describe('each attempt', () => {
  it('keeps webhook-id across retries, stamps a fresh webhook-timestamp and signs it verifiably', async () => {
    const { dispatcher, calls } = setup((_, index) => status(index < 2 ? 500 : 200), { jitter: 0 })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { messageId } = await dispatcher.send({ eventType: 'invoice.paid', payload: { amount: 42 } })
    await runToEnd(dispatcher)

    expect(calls).toHaveLength(3)
    for (const call of calls) {
      expect(call.headers['webhook-id']).toBe(messageId)
      expect(call.headers['webhook-timestamp']).toBe(String(Math.floor(call.at / 1000)))
      expect(call.headers['content-type']).toBe('application/json')
      expect(call.body).toBe('{"amount":42}')
      expect(call.init.method).toBe('POST')
      const webhook = await verify({
        headers: call.headers,
        rawBody: call.body,
        secret: SECRET,
        now: () => call.at,
      })
      expect(webhook.id).toBe(messageId)
    }
    expect(new Set(calls.map((c) => c.headers['webhook-timestamp'])).size).toBe(3)
  })

  it('signs with every endpoint secret during rotation', async () => {
    const newSecret = 'whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz'
    const { dispatcher, calls } = setup(() => status(200))
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [newSecret, SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    const call = calls[0]!
    expect(call.headers['webhook-signature']!.split(' ')).toHaveLength(2)
    for (const secret of [newSecret, SECRET]) {
      await expect(
        verify({ headers: call.headers, rawBody: call.body, secret, now: () => call.at }),
      ).resolves.toBeTruthy()
    }
  })

  it('times out after 15 s by default (AbortController) and retries', async () => {
    const { dispatcher, calls, mock } = setup(
      (call, index) =>
        index === 0
          ? new Promise<Response>((_, reject) =>
              call.init.signal!.addEventListener('abort', () =>
                reject(new DOMException('aborted', 'AbortError')),
              ),
            )
          : status(200),
      { jitter: 0 },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    await until(() => mock.mock.calls.length === 1)

    await vi.advanceTimersByTimeAsync(14_999)
    expect(calls[0]!.init.signal!.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(calls[0]!.init.signal!.aborted).toBe(true)
    await dispatcher.whenIdle()
    const pending = await dispatcher.getDelivery(deliveries[0]!.id)
    expect(pending).toMatchObject({
      attempts: 1,
      lastFailure: { kind: 'timeout' },
      nextAttemptAt: T0 + 15_000 + 5_000,
    })

    await step(dispatcher)
    expect(calls).toHaveLength(2)
    expect(calls[1]!.at).toBe(T0 + 20_000)
  })

  it('honours a custom timeoutMs', async () => {
    const { dispatcher, calls, mock } = setup(
      (call) =>
        new Promise<Response>((_, reject) =>
          call.init.signal!.addEventListener('abort', () =>
            reject(new DOMException('aborted', 'AbortError')),
          ),
        ),
      { timeoutMs: 2000, retryDelaysMs: [] },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await until(() => mock.mock.calls.length === 1)
    await vi.advanceTimersByTimeAsync(2000)
    expect(calls[0]!.init.signal!.aborted).toBe(true)
  })

  it('retries network errors', async () => {
    const { dispatcher, calls, events } = setup(
      (_, index) => (index === 0 ? Promise.reject(new TypeError('fetch failed')) : status(200)),
      { jitter: 0 },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(2)
    expect(events.find((e) => e.type === 'retry_scheduled')).toMatchObject({
      delayMs: 5000,
      failure: { kind: 'network', message: 'fetch failed' },
    })
  })

  it.each([408, 429, 500, 502, 503, 504])('retries HTTP %i', async (code) => {
    const { dispatcher, calls } = setup((_, index) => status(index === 0 ? code : 200), { jitter: 0 })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(2)
    expect(await dispatcher.listDeadLetters()).toEqual([])
  })

  it.each([400, 401, 403, 404, 413, 422, 301, 302])(
    'does not retry HTTP %i: dead-lettered as rejected',
    async (code) => {
      const { dispatcher, calls } = setup(() =>
        status(code, code < 400 ? { location: 'http://169.254.169.254/' } : {}),
      )
      await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
      await dispatcher.send({ eventType: 'e', payload: {} })
      await runToEnd(dispatcher)
      expect(calls).toHaveLength(1)
      expect(calls[0]!.init.redirect).toBe('manual')
      const [dead] = await dispatcher.listDeadLetters()
      expect(dead).toMatchObject({
        deadReason: 'rejected',
        attempts: 1,
        lastFailure: { kind: 'status', status: code },
      })
    },
  )

  it('honours Retry-After in seconds, over the (shorter) schedule', async () => {
    const { dispatcher, calls } = setup(
      (_, index) => (index === 0 ? status(429, { 'retry-after': '120' }) : status(200)),
      {
        jitter: 0,
      },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(gaps(calls.map((c) => c.at))).toEqual([120_000])
  })

  it('honours Retry-After as an HTTP date', async () => {
    const retryAt = new Date(T0 + 10 * 60_000).toUTCString()
    const { dispatcher, calls } = setup(
      (_, index) => (index === 0 ? status(503, { 'retry-after': retryAt }) : status(200)),
      {
        jitter: 0,
      },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls[1]!.at).toBe(T0 + 10 * 60_000)
  })

  it('caps a huge Retry-After at maxRetryAfterMs', async () => {
    const { dispatcher, calls } = setup(
      (_, index) => (index === 0 ? status(429, { 'retry-after': '99999999' }) : status(200)),
      {
        jitter: 0,
        maxRetryAfterMs: 60_000,
      },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(gaps(calls.map((c) => c.at))).toEqual([60_000])
  })
})

describe('410 Gone', () => {
  it('disables the endpoint, dead-letters the delivery and stops sending to it', async () => {
    const { dispatcher, calls, events } = setup(() => status(410))
    const endpoint = await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: { n: 1 } })
    await runToEnd(dispatcher)

    expect(calls).toHaveLength(1)
    const [stored] = await dispatcher.listEndpoints()
    expect(stored).toMatchObject({ id: endpoint.id, disabled: true, disabledReason: 'gone', disabledAt: T0 })
    expect(events.some((e) => e.type === 'endpoint_disabled')).toBe(true)
    const [dead] = await dispatcher.listDeadLetters()
    expect(dead).toMatchObject({ deadReason: 'endpoint_disabled', lastFailure: { status: 410 } })
    expect(dispatcher.metrics().endpointsDisabled).toBe(1)

    const later = await dispatcher.send({ eventType: 'e', payload: { n: 2 } })
    expect(later.deliveries).toEqual([])
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(1)
  })

  it('dead-letters already-queued deliveries of a disabled endpoint without sending them', async () => {
    const { dispatcher, calls } = setup(() => status(410), { concurrency: 1 })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: { n: 1 } })
    await dispatcher.send({ eventType: 'e', payload: { n: 2 } })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(1)
    const dead = await dispatcher.listDeadLetters()
    expect(dead.map((d) => d.deadReason)).toEqual(['endpoint_disabled', 'endpoint_disabled'])
  })

  it('refuses to replay until the endpoint is re-enabled', async () => {
    const { dispatcher, calls } = setup((_, index) => status(index === 0 ? 410 : 200))
    const endpoint = await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    const [dead] = await dispatcher.listDeadLetters()
    await expect(dispatcher.replay(dead!.id)).rejects.toMatchObject({ code: 'endpoint_disabled' })

    await dispatcher.updateEndpoint({ id: endpoint.id, disabled: false })
    await dispatcher.replay(dead!.id)
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(2)
    expect(await dispatcher.listDeadLetters()).toEqual([])
  })
})

describe('dead-letter queue and replay (API)', () => {
  it('lists exhausted deliveries and replays one with the same webhook-id', async () => {
    let healthy = false
    const { dispatcher, calls } = setup(() => status(healthy ? 200 : 500), {
      retryDelaysMs: [1000],
      jitter: 0,
    })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { messageId, deliveries } = await dispatcher.send({ eventType: 'e', payload: { n: 1 } })
    await runToEnd(dispatcher)

    const dead = await dispatcher.listDeadLetters()
    expect(dead).toHaveLength(1)
    expect(dead[0]).toMatchObject({ id: deliveries[0]!.id, messageId, attempts: 2, deadReason: 'exhausted' })
    expect(dispatcher.metrics().deadLettered).toBe(1)

    healthy = true
    const replayed = await dispatcher.replay(dead[0]!.id)
    expect(replayed).toMatchObject({ status: 'pending', attempts: 0, replays: 1 })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(3)
    expect(calls[2]!.headers['webhook-id']).toBe(messageId)
    expect(await dispatcher.listDeadLetters()).toEqual([])
    await expect(dispatcher.replay(dead[0]!.id)).rejects.toMatchObject({ code: 'delivery_not_found' })
  })

  it('throws delivery_not_found for an unknown or pending id', async () => {
    const { dispatcher } = setup(() => status(200), { autoStart: false })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    await expect(dispatcher.replay('dlv_nope')).rejects.toBeInstanceOf(WebhookVerificationError)
    await expect(dispatcher.replay(deliveries[0]!.id)).rejects.toMatchObject({ code: 'delivery_not_found' })
  })

  it('lists newest first with limit and offset', async () => {
    const { dispatcher } = setup(() => status(400))
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    for (let n = 0; n < 3; n++) {
      await dispatcher.send({ eventType: 'e', payload: { n } })
      await runToEnd(dispatcher)
      vi.setSystemTime(Date.now() + 1000)
    }
    const all = await dispatcher.listDeadLetters()
    expect(all.map((d) => d.payload)).toEqual(['{"n":2}', '{"n":1}', '{"n":0}'])
    expect((await dispatcher.listDeadLetters({ limit: 1, offset: 1 })).map((d) => d.payload)).toEqual([
      '{"n":1}',
    ])
  })
})

describe('endpoints and routing', () => {
  it('delivers by event type: exact, prefix.* and *, one message id shared by all endpoints', async () => {
    const { dispatcher, calls } = setup(() => status(200))
    const exact = await dispatcher.addEndpoint({
      url: 'https://a.example/',
      eventTypes: ['invoice.paid'],
      secrets: [SECRET],
    })
    const prefix = await dispatcher.addEndpoint({
      url: 'https://b.example/',
      eventTypes: ['invoice.*'],
      secrets: [SECRET],
    })
    const all = await dispatcher.addEndpoint({
      url: 'https://c.example/',
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    await dispatcher.addEndpoint({
      url: 'https://d.example/',
      eventTypes: ['user.created'],
      secrets: [SECRET],
    })

    const result = await dispatcher.send({ eventType: 'invoice.paid', payload: {} })
    expect(result.deliveries.map((d) => d.endpointId).sort()).toEqual([exact.id, prefix.id, all.id].sort())
    expect(new Set(result.deliveries.map((d) => d.id)).size).toBe(3)
    await runToEnd(dispatcher)
    expect(calls.map((c) => c.url).sort()).toEqual([
      'https://a.example/',
      'https://b.example/',
      'https://c.example/',
    ])
    expect(new Set(calls.map((c) => c.headers['webhook-id']))).toEqual(new Set([result.messageId]))
  })

  it('uses the caller’s message id, and generates a fresh whsec_ secret when none is given', async () => {
    const { dispatcher, calls } = setup(() => status(200))
    const endpoint = await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'] })
    expect(endpoint.secrets).toHaveLength(1)
    expect(endpoint.secrets[0]).toMatch(/^whsec_/)
    await dispatcher.send({ eventType: 'e', payload: 'raw-json-string', id: 'order_42_paid' })
    await runToEnd(dispatcher)
    expect(calls[0]!.headers['webhook-id']).toBe('order_42_paid')
    expect(calls[0]!.body).toBe('raw-json-string')
  })

  it('send resolves once stored, before any attempt; start() then delivers', async () => {
    const { dispatcher, calls } = setup(() => status(200), { autoStart: false })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    expect(await dispatcher.getDelivery(deliveries[0]!.id)).toMatchObject({ status: 'pending', attempts: 0 })
    expect(calls).toHaveLength(0)
    dispatcher.start()
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(1)
  })

  it('close() waits for the attempt in flight and stops further attempts', async () => {
    let release!: () => void
    const { dispatcher, calls, mock } = setup(
      () => new Promise<Response>((resolve) => (release = () => resolve(status(500)))),
      { jitter: 0 },
    )
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    const { deliveries } = await dispatcher.send({ eventType: 'e', payload: {} })
    await until(() => mock.mock.calls.length === 1)
    let closed = false
    const closing = dispatcher.close().then(() => {
      closed = true
    })
    await until(() => true)
    expect(closed).toBe(false)
    release()
    await closing
    expect(await dispatcher.getDelivery(deliveries[0]!.id)).toMatchObject({ attempts: 1, status: 'pending' })
    await vi.advanceTimersByTimeAsync(60_000)
    expect(calls).toHaveLength(1)
    await expect(dispatcher.send({ eventType: 'e', payload: {} })).rejects.toMatchObject({
      code: 'invalid_options',
    })
  })

  it('rejects invalid options and endpoints with typed errors', async () => {
    expect(() => createDispatcher({ jitter: 2 })).toThrow(
      expect.objectContaining({ code: 'invalid_options' }),
    )
    expect(() => createDispatcher({ retryDelaysMs: [-1] })).toThrow(
      expect.objectContaining({ code: 'invalid_options' }),
    )
    const { dispatcher } = setup(() => status(200))
    await expect(dispatcher.addEndpoint({ url: URL_A, eventTypes: [] })).rejects.toMatchObject({
      code: 'invalid_options',
    })
    await expect(
      dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: ['nope!'] }),
    ).rejects.toMatchObject({
      code: 'invalid_secret',
    })
    await expect(
      dispatcher.addEndpoint({ url: 'ftp://x.example/', eventTypes: ['*'] }),
    ).rejects.toMatchObject({
      code: 'invalid_url',
    })
    await expect(dispatcher.send({ eventType: 'e', payload: {}, id: 'a.b' })).rejects.toMatchObject({
      code: 'invalid_header',
    })
  })
})

describe('SSRF guard in the dispatcher', () => {
  it('refuses to register an endpoint whose literal host is private', async () => {
    const { dispatcher } = setup(() => status(200))
    for (const url of [
      'http://127.0.0.1:8080/',
      'http://[::1]/',
      'http://169.254.169.254/',
      'http://[::ffff:10.0.0.1]/',
    ]) {
      await expect(dispatcher.addEndpoint({ url, eventTypes: ['*'] }), url).rejects.toMatchObject({
        code: 'blocked_address',
      })
    }
  })

  it('checks resolved addresses at delivery time: a name that now resolves privately is dead-lettered unsent', async () => {
    let addresses = ['93.184.216.34']
    const { dispatcher, calls } = setup(() => status(200), {
      lookup: async () => addresses.map((address) => ({ address, family: 4 })),
    })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    addresses = ['93.184.216.34', '10.0.0.5']
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(0)
    const [dead] = await dispatcher.listDeadLetters()
    expect(dead).toMatchObject({ deadReason: 'blocked_address', lastFailure: { kind: 'blocked' } })
  })

  it('delivers to private addresses with allowPrivateNetworks: true', async () => {
    const { dispatcher, calls } = setup(() => status(200), {
      allowPrivateNetworks: true,
      lookup: resolvesTo('10.0.0.5'),
    })
    await dispatcher.addEndpoint({ url: 'http://127.0.0.1:9/hook', eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.addEndpoint({
      url: 'http://internal.example/hook',
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(2)
  })

  it('treats a DNS failure as a network error and retries', async () => {
    let lookups = 0
    const { dispatcher, calls } = setup(() => status(200), {
      jitter: 0,
      lookup: async () => {
        // Lookup 1 is addEndpoint's check; lookup 2 is the first attempt.
        if (++lookups === 2) {
          throw Object.assign(new Error('getaddrinfo EAI_AGAIN hooks.example.com'), { code: 'EAI_AGAIN' })
        }
        return [{ address: '93.184.216.34', family: 4 }]
      },
    })
    await dispatcher.addEndpoint({ url: URL_A, eventTypes: ['*'], secrets: [SECRET] })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.at).toBe(T0 + 5000)
  })
})

describe('metrics', () => {
  it('reports success rate, retry rate, failure rate per endpoint, dead letters and latency', async () => {
    const { dispatcher } = setup(
      async (call, index) => {
        vi.setSystemTime(Date.now() + 40) // every request takes 40 ms of (fake) time
        if (call.url.includes('ok')) return status(200)
        if (call.url.includes('flaky')) return status(index === 1 ? 500 : 200)
        return status(400)
      },
      { jitter: 0, concurrency: 1 },
    )
    const ok = await dispatcher.addEndpoint({
      url: 'https://ok.example/',
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    const flaky = await dispatcher.addEndpoint({
      url: 'https://flaky.example/',
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    const bad = await dispatcher.addEndpoint({
      url: 'https://bad.example/',
      eventTypes: ['*'],
      secrets: [SECRET],
    })
    await dispatcher.send({ eventType: 'e', payload: {} })
    await runToEnd(dispatcher)

    const m = dispatcher.metrics()
    expect(m).toMatchObject({
      attempts: 4,
      succeeded: 2,
      failed: 2,
      retries: 1,
      successRate: 0.5,
      failureRate: 0.5,
      retryRate: 0.25,
      deadLettered: 1,
    })
    expect(m.endpoints[ok.id]).toMatchObject({ attempts: 1, failed: 0, failureRate: 0 })
    expect(m.endpoints[flaky.id]).toMatchObject({ attempts: 2, failed: 1, failureRate: 0.5 })
    expect(m.endpoints[bad.id]).toMatchObject({ attempts: 1, failed: 1, failureRate: 1 })
    expect(m.attemptLatency).toMatchObject({ count: 4, meanMs: 40, p95Ms: 40, maxMs: 40 })
    expect(m.deliveryLatency.count).toBe(2)
    expect(m.deliveryLatency.maxMs).toBeGreaterThanOrEqual(5000)

    const text = dispatcher.metricsText()
    expect(text).toContain(`holdfast_webhooks_failed_total{endpoint="${flaky.id}"} 1`)
    expect(text).toContain('holdfast_webhooks_dead_lettered_total 1')
    expect(text).toContain('# TYPE holdfast_webhooks_attempt_latency_ms summary')
  })

  it('reports null rates before the first attempt', () => {
    const { dispatcher } = setup(() => status(200), { autoStart: false })
    expect(dispatcher.metrics()).toMatchObject({
      attempts: 0,
      successRate: null,
      retryRate: null,
      failureRate: null,
    })
  })
})
