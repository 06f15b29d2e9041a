import { CloseCode } from '@holdfast/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { type ConnectionState, createClient, type HoldfastClient, type HoldfastError } from '../../src'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'
import { fakeJwt } from '../helpers/jwt'

let fake = createFakeServer()
let clients: HoldfastClient[] = []

function client(options: Partial<Parameters<typeof createClient>[0]> = {}) {
  const c = createClient({ url: BASE_URL, transports: ['websocket'], onOnline: false, ...options })
  clients.push(c)
  return c
}

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  fake.server.close()
  vi.useRealTimers()
})

function start(options: Parameters<typeof createFakeServer>[0] = {}) {
  fake = createFakeServer(options)
  fake.server.listen({ onUnhandledRequest: 'error' })
}

describe('connecting', () => {
  test('sends connect with the token first, then subscribes with the channel', async () => {
    start()
    const c = client({ getToken: () => 't1' })
    c.subscribe('room', () => {})
    await tick(10)
    expect(c.state.status).toBe('connected')
    expect(fake.last.frames[0]).toEqual({ type: 'connect', token: 't1' })
    expect(fake.last.frames[1]).toMatchObject({ type: 'subscribe', channel: 'room' })
  })

  test('two subscriptions to one channel share one network subscription', async () => {
    start()
    const c = client()
    const a: unknown[] = []
    const b: unknown[] = []
    const sa = c.subscribe('room', (m) => a.push(m.data))
    c.subscribe('room', (m) => b.push(m.data))
    await tick(10)
    expect(fake.last.frames.filter((f) => f.type === 'subscribe')).toHaveLength(1)
    fake.last.send({ type: 'message', channel: 'room', cursor: 'e1:1', data: 1 })
    await tick(1)
    sa.unsubscribe()
    fake.last.send({ type: 'message', channel: 'room', cursor: 'e1:2', data: 2 })
    await tick(1)
    expect(a).toEqual([1])
    expect(b).toEqual([1, 2])
    expect(fake.last.frames.some((f) => f.type === 'unsubscribe')).toBe(false)
  })

  test('rejects an invalid channel name with a typed error, in subscribe and publish', async () => {
    start()
    const c = client({ lazy: true })
    for (const bad of ['bad channel!', 'a,b', '', 'x'.repeat(201)]) {
      expect(() => c.subscribe(bad, () => {}), bad).toThrow(
        expect.objectContaining({ name: 'HoldfastError', code: 'invalid_channel' }),
      )
      await expect(c.publish(bad, 1), bad).rejects.toMatchObject({ code: 'invalid_channel' })
    }
    expect(() => c.subscribe('fine', 42 as never)).toThrow(expect.objectContaining({ code: 'bad_request' }))
  })
})

describe('heartbeat', () => {
  test('a silent connection is pinged after intervalMs and dropped after timeoutMs, then reconnects', async () => {
    start({ autoPong: false })
    const c = client({
      heartbeat: { intervalMs: 1000, timeoutMs: 500 },
      backoff: { initialMs: 100, maxMs: 100 },
      random: () => 1,
    })
    c.subscribe('room', () => {})
    await tick(10)
    expect(fake.connections).toHaveLength(1)
    await tick(999)
    expect(fake.connections[0]!.frames.some((f) => f.type === 'ping')).toBe(true)
    expect(c.state.status).toBe('connected')
    await tick(510)
    expect(c.state.status).not.toBe('connected')
    await tick(200)
    expect(fake.connections).toHaveLength(2)
    expect(c.state.status).toBe('connected')
  })

  test('a pong keeps the connection; no reconnect while the peer answers', async () => {
    start({ autoPong: true })
    const c = client({ heartbeat: { intervalMs: 1000, timeoutMs: 500 } })
    c.subscribe('room', () => {})
    await tick(10_000)
    expect(fake.connections).toHaveLength(1)
    expect(fake.last.frames.filter((f) => f.type === 'ping').length).toBeGreaterThanOrEqual(5)
  })

  test('a timeout timer that fires late (throttled tab) re-probes instead of declaring the peer dead', async () => {
    start({ autoPong: false })
    let offset = 0
    const c = client({ heartbeat: { intervalMs: 1000, timeoutMs: 500 }, now: () => Date.now() + offset })
    c.subscribe('room', () => {})
    await tick(1000) // ping sent
    const pings = () => fake.last.frames.filter((f) => f.type === 'ping').length
    expect(pings()).toBe(1)
    offset = 60_000 // the page was frozen for a minute: the timer fires long after its time
    await tick(500)
    expect(c.state.status).toBe('connected')
    expect(pings()).toBe(2)
    fake.last.send({ type: 'pong' })
    await tick(600)
    expect(c.state.status).toBe('connected')
    expect(fake.connections).toHaveLength(1)
  })
})

describe('tokens', () => {
  test('getToken is single-flight and refreshed in-band before expiry, without reconnecting', async () => {
    start()
    let calls = 0
    const nowSec = () => Math.floor(Date.now() / 1000)
    const getToken = vi.fn(async () => {
      calls++
      return fakeJwt(nowSec() + 60, `u${calls}`)
    })
    const c = client({ getToken, tokenRefreshMarginMs: 10_000, heartbeat: false })
    c.subscribe('room', () => {})
    await tick(10)
    expect(getToken).toHaveBeenCalledTimes(1)
    await tick(45_000)
    expect(fake.last.frames.some((f) => f.type === 'auth')).toBe(false)
    await tick(6_000)
    const auth = fake.last.frames.find((f) => f.type === 'auth')
    expect(auth).toBeDefined()
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(fake.connections).toHaveLength(1)
    expect(c.state.status).toBe('connected')
  })

  test('concurrent token requests share one getToken call', async () => {
    start()
    let resolve!: (t: string) => void
    const getToken = vi.fn(() => new Promise<string>((r) => (resolve = r)))
    const { TokenManager } = await import('../../src/core/TokenManager')
    const tm = new TokenManager(getToken, Date.now, 0, globalThis, 10_000)
    const p = Promise.all([tm.get(), tm.get(), tm.fetch()])
    resolve('tok')
    expect(await p).toEqual(['tok', 'tok', 'tok'])
    expect(getToken).toHaveBeenCalledTimes(1)
  })

  test('a getToken that throws synchronously is asked again next time, not cached as failed', async () => {
    const { TokenManager } = await import('../../src/core/TokenManager')
    let signedIn = false
    const getToken = vi.fn(() => {
      if (!signedIn) throw new Error('not signed in yet')
      return 'tok'
    })
    const tm = new TokenManager(getToken, Date.now, 0, globalThis, 10_000)
    await expect(tm.get()).rejects.toMatchObject({ code: 'unauthorized' })
    signedIn = true
    expect(await tm.get()).toBe('tok')
    expect(getToken).toHaveBeenCalledTimes(2)
  })

  test('the token-expired close of a stable connection fetches a new token and reconnects at once', async () => {
    start()
    let n = 0
    const getToken = vi.fn(async () => `token-${++n}`)
    const c = client({ getToken, backoff: { initialMs: 5000, maxMs: 5000, stableAfterMs: 1000 } })
    c.subscribe('room', () => {})
    await tick(1000)
    fake.last.close(CloseCode.TokenExpired, 'token expired')
    await tick(10)
    expect(fake.connections).toHaveLength(2)
    expect(fake.last.frames[0]).toEqual({ type: 'connect', token: 'token-2' })
    expect(c.state.status).toBe('connected')
  })

  test('a token_expired error frame triggers an in-band refresh', async () => {
    start()
    let n = 0
    const c = client({ getToken: async () => `token-${++n}`, heartbeat: false })
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.send({ type: 'error', code: 'token_expired', message: 'expired' })
    await tick(10)
    expect(fake.last.frames).toContainEqual(expect.objectContaining({ type: 'auth', token: 'token-2' }))
    expect(fake.connections).toHaveLength(1)
  })

  test('forbidden stops: state closed with the error, and no reconnect ever', async () => {
    start()
    const c = client({ getToken: () => 't', backoff: { initialMs: 10, maxMs: 10 } })
    const errors: HoldfastError[] = []
    c.on('error', (e) => errors.push(e))
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.close(CloseCode.Forbidden, 'no entry')
    await tick(60_000)
    expect(fake.connections).toHaveLength(1)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'forbidden' } })
    expect(errors.map((e) => e.code)).toContain('forbidden')
  })

  test('a token rejected twice in a row stops instead of looping', async () => {
    start()
    const c = client({ getToken: () => 'bad', backoff: { initialMs: 10, maxMs: 10 } })
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.close(CloseCode.Unauthorized, 'bad token')
    await tick(10)
    expect(fake.connections).toHaveLength(2)
    fake.last.close(CloseCode.Unauthorized, 'bad token')
    await tick(60_000)
    expect(fake.connections).toHaveLength(2)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
  })
})

describe('reconnecting', () => {
  test('state goes reconnecting with attempt and nextRetryAt, then connected', async () => {
    start()
    const c = client({ backoff: { initialMs: 1000, maxMs: 1000 }, random: () => 0.5 })
    const states: ConnectionState[] = []
    c.onStateChange((s) => states.push(s))
    c.subscribe('room', () => {})
    await tick(10)
    const before = Date.now()
    fake.last.close(1001, 'going away')
    await tick(1)
    expect(c.state).toMatchObject({ status: 'reconnecting', transport: 'websocket', attempt: 1 })
    const s = c.state as Extract<ConnectionState, { status: 'reconnecting' }>
    expect(s.nextRetryAt - before).toBeGreaterThanOrEqual(499)
    expect(s.nextRetryAt - before).toBeLessThanOrEqual(502)
    await tick(400)
    expect(fake.connections).toHaveLength(1)
    await tick(200)
    expect(fake.connections).toHaveLength(2)
    expect(states.map((x) => x.status)).toEqual([
      'connecting',
      'connected',
      'reconnecting',
      'connecting',
      'connected',
    ])
  })

  test('a server restart hint is a floor, with jitter above it', async () => {
    start()
    const c = client({ backoff: { initialMs: 1000, maxMs: 1000 }, random: () => 0.5 })
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.send({ type: 'reconnect', retryAfterMs: 3000 })
    fake.last.close(CloseCode.ServerRestart, JSON.stringify({ retryAfterMs: 3000 }))
    await tick(3400)
    expect(fake.connections).toHaveLength(1)
    await tick(200)
    expect(fake.connections).toHaveLength(2)
  })

  test('the attempt count grows while connections keep dropping and resets once one stays up', async () => {
    start()
    const c = client({ backoff: { initialMs: 100, maxMs: 100_000, stableAfterMs: 5000 }, random: () => 1 })
    c.subscribe('room', () => {})
    await tick(10)
    for (let i = 1; i <= 3; i++) {
      fake.last.close(1001, 'drop')
      await tick(1)
      expect(c.state).toMatchObject({ status: 'reconnecting', attempt: i })
      await tick(100 * 2 ** (i - 1) + 10)
      expect(c.state.status).toBe('connected')
    }
    await tick(5000)
    fake.last.close(1001, 'drop')
    await tick(1)
    expect(c.state).toMatchObject({ status: 'reconnecting', attempt: 1 })
  })

  test('the online event skips the remaining backoff', async () => {
    start()
    let online: (() => void) | undefined
    const c = createClient({
      url: BASE_URL,
      transports: ['websocket'],
      backoff: { initialMs: 60_000, maxMs: 60_000 },
      random: () => 1,
      onOnline: (fn) => {
        online = fn
        return () => {}
      },
    })
    clients.push(c)
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.close(1001, 'drop')
    await tick(10)
    expect(c.state.status).toBe('reconnecting')
    online!()
    await tick(10)
    expect(fake.connections).toHaveLength(2)
    expect(c.state.status).toBe('connected')
  })
})

describe('the default onOnline: online and page visible', () => {
  /** A page whose visibility the test flips, and a window that can go offline and online. */
  function stubPage() {
    const doc = Object.assign(new EventTarget(), { visibilityState: 'hidden' as DocumentVisibilityState })
    const win = new EventTarget()
    vi.stubGlobal('document', doc)
    vi.stubGlobal('addEventListener', win.addEventListener.bind(win))
    vi.stubGlobal('removeEventListener', win.removeEventListener.bind(win))
    return {
      show() {
        doc.visibilityState = 'visible'
        doc.dispatchEvent(new Event('visibilitychange'))
      },
      hide() {
        doc.visibilityState = 'hidden'
        doc.dispatchEvent(new Event('visibilitychange'))
      },
      online: () => win.dispatchEvent(new Event('online')),
    }
  }
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  function defaultClient(options: Partial<Parameters<typeof createClient>[0]> = {}) {
    const c = createClient({ url: BASE_URL, transports: ['websocket'], ...options })
    clients.push(c)
    return c
  }

  test('the page becoming visible probes a connected socket at once', async () => {
    start()
    const page = stubPage()
    const c = defaultClient({ heartbeat: { intervalMs: 60_000, timeoutMs: 5000 } })
    c.subscribe('room', () => {})
    await tick(10)
    const pings = () => fake.last.frames.filter((f) => f.type === 'ping').length
    page.hide()
    await tick(10)
    expect(pings()).toBe(0)
    page.show()
    await tick(10)
    expect(pings()).toBe(1)
  })

  test('the page becoming visible, or the online event, skips the remaining backoff', async () => {
    start()
    const page = stubPage()
    const c = defaultClient({ backoff: { initialMs: 60_000, maxMs: 60_000 }, random: () => 1 })
    c.subscribe('room', () => {})
    await tick(10)
    for (const wake of [page.show, page.online]) {
      const before = fake.connections.length
      fake.last.close(1001, 'drop')
      await tick(10)
      expect(c.state.status).toBe('reconnecting')
      wake()
      await tick(10)
      expect(fake.connections).toHaveLength(before + 1)
      expect(c.state.status).toBe('connected')
    }
  })

  test('close() removes both listeners', async () => {
    start()
    stubPage()
    const live = new Set<string>()
    const track = (target: EventTarget, name: string) => {
      const add = target.addEventListener.bind(target)
      const remove = target.removeEventListener.bind(target)
      return {
        add: (type: string, fn: EventListener) => {
          live.add(`${name}:${type}`)
          add(type, fn)
        },
        remove: (type: string, fn: EventListener) => {
          live.delete(`${name}:${type}`)
          remove(type, fn)
        },
      }
    }
    const doc = globalThis.document as unknown as EventTarget
    const docTracked = track(doc, 'document')
    doc.addEventListener = docTracked.add
    doc.removeEventListener = docTracked.remove
    const win = track(new EventTarget(), 'window')
    vi.stubGlobal('addEventListener', win.add)
    vi.stubGlobal('removeEventListener', win.remove)
    const c = defaultClient()
    await tick(10)
    expect([...live].sort()).toEqual(['document:visibilitychange', 'window:online'])
    c.close()
    expect([...live]).toEqual([])
  })
})

describe('resume and delivery', () => {
  test('duplicates are dropped by cursor and order is kept', async () => {
    start()
    const c = client()
    const got: unknown[] = []
    c.subscribe('room', (m) => got.push(m.data))
    await tick(10)
    for (const [cursor, data] of [
      ['e1:1', 1],
      ['e1:2', 2],
      ['e1:2', 2],
      ['e1:1', 1],
      ['e1:3', 3],
    ] as const) {
      fake.last.send({ type: 'message', channel: 'room', cursor, data })
    }
    await tick(1)
    expect(got).toEqual([1, 2, 3])
    expect(c.stats.duplicatesDropped).toBe(2)
  })

  test('after a reconnect the client resubscribes with since = last cursor', async () => {
    start()
    const c = client({ backoff: { initialMs: 10, maxMs: 10 } })
    c.subscribe('room', () => {})
    await tick(10)
    fake.last.send({ type: 'message', channel: 'room', cursor: 'e1:7', data: 7 })
    await tick(1)
    fake.last.close(1001, 'drop')
    await tick(50)
    expect(fake.last.frames).toContainEqual(
      expect.objectContaining({ type: 'subscribe', channel: 'room', since: 'e1:7' }),
    )
  })

  test('before any message arrives, a resubscribe resumes from the head the server reported', async () => {
    start()
    const c = client({ backoff: { initialMs: 10, maxMs: 10 } })
    c.subscribe('quiet', () => {})
    await tick(10)
    fake.last.close(1001, 'drop')
    await tick(50)
    expect(fake.last.frames).toContainEqual(
      expect.objectContaining({ type: 'subscribe', channel: 'quiet', since: 'e1:0' }),
    )
  })

  test('onGap fires (and a gap event) when the server cannot recover history', async () => {
    start({
      autoSubscribe: false,
      onFrame: (frame, conn) => {
        if (frame.type === 'subscribe') {
          conn.send({
            type: 'subscribed',
            id: frame.id,
            channel: frame.channel,
            epoch: 'e2',
            cursor: 'e2:5',
            recovered: frame.since === undefined,
          })
        }
      },
    })
    const c = client()
    const gaps: unknown[] = []
    const events: unknown[] = []
    c.on('gap', (g) => events.push(g))
    c.subscribe('room', () => {}, { since: 'e1:40', onGap: (g) => gaps.push(g) })
    await tick(10)
    expect(gaps).toEqual([{ channel: 'room', since: 'e1:40', epoch: 'e2', cursor: 'e2:5' }])
    expect(events).toEqual(gaps)
  })

  test('a handler that throws does not stop delivery to the others', async () => {
    start()
    const c = client()
    const got: unknown[] = []
    const errors: string[] = []
    c.on('error', (e) => errors.push(e.message))
    c.subscribe('room', () => {
      throw new Error('boom')
    })
    c.subscribe('room', (m) => got.push(m.data))
    await tick(10)
    fake.last.send({ type: 'message', channel: 'room', cursor: 'e1:1', data: 1 })
    await tick(1)
    expect(got).toEqual([1])
    expect(errors.some((m) => m.includes('boom'))).toBe(true)
  })

  test('a refused channel reports the error to its subscriber and is not retried in a loop', async () => {
    start({
      autoSubscribe: false,
      onFrame: (frame, conn) => {
        if (frame.type === 'subscribe') {
          conn.send({ type: 'error', id: frame.id, code: 'forbidden', message: 'not yours' })
        }
      },
    })
    const c = client({ backoff: { initialMs: 10, maxMs: 10 } })
    const errors: string[] = []
    c.subscribe('secret', () => {}, { onError: (e) => errors.push(e.code) })
    await tick(10)
    expect(errors).toEqual(['forbidden'])
    fake.last.close(1001, 'drop')
    await tick(50)
    expect(fake.last.frames.filter((f) => f.type === 'subscribe')).toHaveLength(0)
  })
})

describe('a refused channel asked for again', () => {
  function refuseOnce() {
    let refusals = 0
    start({
      autoSubscribe: false,
      onFrame: (frame, conn) => {
        if (frame.type !== 'subscribe') return
        if (refusals++ === 0)
          conn.send({ type: 'error', id: frame.id, code: 'forbidden', message: 'not yet' })
        else
          conn.send({
            type: 'subscribed',
            id: frame.id,
            channel: frame.channel,
            epoch: 'e1',
            cursor: 'e1:0',
            recovered: true,
          })
      },
    })
  }

  test('unsubscribe then subscribe in the same tick sends a new subscribe, and the answer counts', async () => {
    refuseOnce()
    const c = client()
    const first = c.subscribe('secret', () => {})
    await tick(10)
    first.unsubscribe()
    const got: unknown[] = []
    const confirmed: unknown[] = []
    c.subscribe('secret', (m) => got.push(m.data), { onSubscribed: (i) => confirmed.push(i.channel) })
    await tick(10)
    expect(fake.last.frames.filter((f) => f.type === 'subscribe')).toHaveLength(2)
    expect(confirmed).toEqual(['secret'])
    fake.last.send({ type: 'message', channel: 'secret', cursor: 'e1:1', data: 'now yours' })
    await tick(1)
    expect(got).toEqual(['now yours'])
  })

  test('a second subscriber while the first is still attached asks again too', async () => {
    refuseOnce()
    const c = client()
    c.subscribe('secret', () => {})
    await tick(10)
    const got: unknown[] = []
    c.subscribe('secret', (m) => got.push(m.data))
    await tick(10)
    expect(fake.last.frames.filter((f) => f.type === 'subscribe')).toHaveLength(2)
    fake.last.send({ type: 'message', channel: 'secret', cursor: 'e1:1', data: 1 })
    await tick(1)
    expect(got).toEqual([1])
  })
})

describe('publishing', () => {
  test('resolves with the stored cursor from the ack', async () => {
    start({
      onFrame: (frame, conn) => {
        if (frame.type === 'publish') conn.send({ type: 'ack', id: frame.id, cursor: 'e1:9' })
      },
    })
    const c = client()
    await tick(10)
    const p = c.publish('room', { text: 'hi' })
    await tick(1)
    await expect(p).resolves.toEqual({ cursor: 'e1:9', duplicate: false })
  })

  test('waits in the queue while disconnected and is resent with the same key after the socket is replaced', async () => {
    let acks = 0
    start({
      onFrame: (frame, conn) => {
        // The first connection swallows the publish and dies; the second acknowledges it.
        if (frame.type === 'publish' && acks++ > 0) conn.send({ type: 'ack', id: frame.id, cursor: 'e1:1' })
      },
    })
    const c = client({ backoff: { initialMs: 10, maxMs: 10 } })
    await tick(10)
    const p = c.publish('room', 'x')
    await tick(1)
    const first = fake.last.frames.find((f) => f.type === 'publish')
    fake.last.close(1001, 'drop')
    await tick(50)
    await expect(p).resolves.toEqual({ cursor: 'e1:1', duplicate: false })
    const second = fake.last.frames.find((f) => f.type === 'publish')
    expect(second).toMatchObject({ key: (first as { key: string }).key })
  })

  test('an overflowing publish is rejected with queue_full; nothing is dropped silently', async () => {
    start({ autoWelcome: false })
    const c = client({ queue: { maxMessages: 2 } })
    await tick(10)
    const a = c.publish('room', 1)
    const b = c.publish('room', 2)
    await expect(c.publish('room', 3)).rejects.toMatchObject({ code: 'queue_full' })
    c.close()
    await expect(a).rejects.toMatchObject({ code: 'closed' })
    await expect(b).rejects.toMatchObject({ code: 'closed' })
  })

  test('the byte bound applies too, and oversize messages are refused before sending', async () => {
    start({ autoWelcome: false })
    const c = client({ queue: { maxBytes: 20 } })
    await tick(10)
    void c.publish('room', 'aaaaaaaa').catch(() => {})
    await expect(c.publish('room', 'bbbbbbbbbbbbbbbb')).rejects.toMatchObject({ code: 'queue_full' })
    await expect(c.publish('room', 'x'.repeat(200_000))).rejects.toMatchObject({ code: 'message_too_large' })
  })

  test('a publish not acknowledged within ttlMs is rejected with timeout', async () => {
    start({ autoWelcome: false })
    const c = client({ queue: { ttlMs: 1000 } })
    const p = c.publish('room', 1)
    const settled = expect(p).rejects.toMatchObject({ code: 'timeout' })
    await tick(1001)
    await settled
  })
})

describe('subscription lifecycle signals', () => {
  test('a later subscriber to a refused channel asks the server again, and is told its answer', async () => {
    start({
      autoSubscribe: false,
      onFrame: (frame, conn) => {
        if (frame.type === 'subscribe')
          conn.send({ type: 'error', id: frame.id, code: 'forbidden', message: 'no' })
      },
    })
    const c = client()
    const first: string[] = []
    const second: string[] = []
    c.subscribe('secret', () => {}, { onError: (e) => first.push(e.code) })
    await tick(10)
    c.subscribe('secret', () => {}, { onError: (e) => second.push(e.code) })
    await tick(1)
    expect(fake.last.frames.filter((f) => f.type === 'subscribe')).toHaveLength(2)
    expect(first).toEqual(['forbidden', 'forbidden'])
    expect(second).toEqual(['forbidden'])
  })

  test('onSubscribed reports every confirmation with where the subscription resumed', async () => {
    start()
    const c = client({ backoff: { initialMs: 10, maxMs: 10 } })
    const seen: unknown[] = []
    c.subscribe('room', () => {}, { onSubscribed: (info) => seen.push(info) })
    await tick(10)
    fake.last.send({ type: 'message', channel: 'room', cursor: 'e1:4', data: 4 })
    await tick(1)
    fake.last.close(1001, 'drop')
    await tick(50)
    expect(seen).toEqual([
      { channel: 'room', epoch: 'e1', cursor: 'e1:0', recovered: true },
      { channel: 'room', epoch: 'e1', cursor: 'e1:4', recovered: true },
    ])
  })
})

describe('short-lived tokens', () => {
  test('a token living less than the refresh margin is refreshed at half its life, not in a loop', async () => {
    start()
    const nowSec = () => Math.floor(Date.now() / 1000)
    const getToken = vi.fn(async () => fakeJwt(nowSec() + 10))
    const c = client({ getToken, tokenRefreshMarginMs: 30_000, heartbeat: false })
    c.subscribe('room', () => {})
    await tick(10)
    expect(getToken).toHaveBeenCalledTimes(1)
    await tick(4_000)
    expect(getToken).toHaveBeenCalledTimes(1)
    await tick(1_500)
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(fake.last.frames.filter((f) => f.type === 'auth')).toHaveLength(1)
  })
})

test('each retry is announced once: one reconnecting state per drop, with one nextRetryAt', async () => {
  start()
  // A clock that moves on every read, as a real one does between scheduling a retry and waiting for it.
  let reads = 0
  const c = client({
    backoff: { initialMs: 1000, maxMs: 1000 },
    random: () => 0.5,
    now: () => Date.now() + reads++,
  })
  const states: ConnectionState[] = []
  c.subscribe('room', () => {})
  await tick(10)
  c.onStateChange((s) => states.push(s))
  fake.last.close(1001, 'drop')
  await tick(5)
  await tick(600)
  const reconnecting = states.filter((s) => s.status === 'reconnecting')
  expect(reconnecting).toHaveLength(1)
  expect(states.map((s) => s.status)).toEqual(['reconnecting', 'connecting', 'connected'])
})
