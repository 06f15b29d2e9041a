import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
import { ConnectionAdmission } from '../src/limits/ConnectionAdmission'
import { KeyedRateLimiter } from '../src/limits/RateLimiter'
import { connect, openSse, SECRET, signToken, startServer, TestSocket, wsUrl } from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

describe('ConnectionAdmission (token bucket)', () => {
  it('admits a burst, then refuses, handing each refused caller its own later slot', () => {
    const clock = new ManualClock()
    const bucket = new ConnectionAdmission({ perSecond: 10, burst: 3 }, clock)
    expect([bucket.admit(), bucket.admit(), bucket.admit()]).toEqual(Array(3).fill({ admitted: true }))
    // One token every 100 ms; refused callers are spread over the coming slots, not all told "100 ms".
    expect(bucket.admit()).toEqual({ admitted: false, retryAfterMs: 100 })
    expect(bucket.admit()).toEqual({ admitted: false, retryAfterMs: 200 })
    expect(bucket.admit()).toEqual({ admitted: false, retryAfterMs: 300 })
  })

  it('refills at perSecond, never above burst', () => {
    const clock = new ManualClock()
    const bucket = new ConnectionAdmission({ perSecond: 10, burst: 3 }, clock)
    for (let i = 0; i < 3; i++) bucket.admit()
    clock.advance(99)
    expect(bucket.admit().admitted).toBe(false)
    clock.advance(1)
    // The refusal above reserved the slot at 100 ms; the refill still yields its token.
    expect(bucket.admit()).toEqual({ admitted: true })
    clock.advance(60_000)
    expect(bucket.available).toBe(3)
    const results = Array.from({ length: 5 }, () => bucket.admit().admitted)
    expect(results).toEqual([true, true, true, false, false])
  })

  it('forgets reserved slots once they are in the past', () => {
    const clock = new ManualClock()
    const bucket = new ConnectionAdmission({ perSecond: 10, burst: 1 }, clock)
    bucket.admit()
    for (let i = 0; i < 5; i++) bucket.admit()
    clock.advance(10_000)
    bucket.admit()
    expect(bucket.admit()).toEqual({ admitted: false, retryAfterMs: 100 })
  })

  it('caps the retry hint', () => {
    const clock = new ManualClock()
    const bucket = new ConnectionAdmission({ perSecond: 1, burst: 1, maxRetryAfterMs: 2500 }, clock)
    bucket.admit()
    const hints = Array.from({ length: 5 }, () => {
      const a = bucket.admit()
      return a.admitted ? -1 : a.retryAfterMs
    })
    expect(hints).toEqual([1000, 2000, 2500, 2500, 2500])
  })

  it('refuses nonsense settings with a message that names the option', () => {
    const clock = new ManualClock()
    expect(() => new ConnectionAdmission({ perSecond: 0 }, clock)).toThrow('limits.connectionRate.perSecond')
    expect(() => new ConnectionAdmission({ perSecond: 5, burst: 0.5 }, clock)).toThrow('burst')
  })
})

describe('limits.connectionRate on every transport', () => {
  it('closes a WebSocket past the limit with 4003 and a retry hint, answers SSE and new polls 429 with Retry-After', async () => {
    const clock = new ManualClock()
    const server = await startServer({
      clock,
      limits: { connectionRate: { perSecond: 2, burst: 2 }, pingIntervalMs: 1e9 },
    })
    await connect(server)
    const stream = await openSse(server, 'channel=a')
    await stream.until((s) => s.events.length === 1)

    const refused = new TestSocket(wsUrl(server))
    await refused.opened
    refused.send({ type: 'connect' })
    const closed = await refused.closed
    expect(closed.code).toBe(CloseCode.RateLimited)
    expect(parseRetryAfterReason(closed.reason)).toBe(500)

    const sse = await fetch(`${server.url}/sse?channel=a`)
    expect(sse.status).toBe(429)
    expect(sse.headers.get('retry-after')).toBe('1')
    expect((await sse.json()).error.code).toBe('rate_limited')
    const poll = await fetch(`${server.url}/poll?channel=a`)
    expect(poll.status).toBe(429)
    expect((await poll.json()).error.code).toBe('rate_limited')
    // A poll that continues a session (a cursor for every channel) is not a new connection.
    const epoch = stream.events[0]!.id!.split('=')[1]!.split(':')[0]
    const continued = await fetch(`${server.url}/poll?channel=a&since=a=${epoch}:0&timeoutMs=0`)
    expect(continued.status).toBe(200)
    // Publishing is never a connection.
    expect(
      (await fetch(`${server.url}/publish`, { method: 'POST', body: '{"channel":"a","data":1}' })).status,
    ).toBe(200)

    clock.advance(2000)
    await connect(server)
    expect((await fetch(`${server.url}/poll?channel=a`)).status).toBe(200)
  })

  it('is spent only by authenticated connections: a flood without valid tokens never locks a valid user out', async () => {
    const clock = new ManualClock()
    const server = await startServer({
      clock,
      auth: { secret: SECRET },
      // No refill while the test runs: one admission in all. (Failed tokens have a limit of their own,
      // limits.authFailureRate, off here so every stranger is answered as a stranger.)
      limits: { connectionRate: { perSecond: 0.001, burst: 1 }, authFailureRate: false, pingIntervalMs: 1e9 },
    })
    const statuses = new Set<number>()
    for (let i = 0; i < 60; i++) statuses.add((await fetch(`${server.url}/sse?channel=x`)).status)
    for (let i = 0; i < 10; i++) {
      const stranger = new TestSocket(wsUrl(server))
      await stranger.opened
      stranger.send(i % 2 === 0 ? { type: 'connect' } : { type: 'connect', token: 'not.a.jwt' })
      await stranger.closed
    }
    // Strangers were refused as strangers, never as "too many connections".
    expect([...statuses]).toEqual([401])
    const token = await signToken()
    const stream = await openSse(server, 'channel=x', { authorization: `Bearer ${token}` })
    expect(stream.response.status).toBe(200)
    await stream.until((s) => s.events.length === 1)
    // That valid stream took the only slot; the next valid connection waits for its own.
    const second = new TestSocket(wsUrl(server))
    await second.opened
    second.send({ type: 'connect', token })
    expect((await second.closed).code).toBe(CloseCode.RateLimited)
  })

  it('admits everyone when no limit is set', async () => {
    const server = await startServer()
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(server)))
    expect(sockets).toHaveLength(20)
  })
})

describe('limits.authFailureRate: failed authentications per address, on their own', () => {
  it('answers an address that keeps failing with 429 / 4003 and a retry hint, and still lets a valid token in', async () => {
    const clock = new ManualClock()
    const server = await startServer({
      clock,
      auth: { secret: SECRET },
      limits: { authFailureRate: { perSecond: 1, burst: 3 }, pingIntervalMs: 1e9 },
    })
    const bad = { authorization: 'Bearer not.a.jwt' }
    const statuses = []
    for (let i = 0; i < 4; i++)
      statuses.push((await fetch(`${server.url}/poll?channel=a`, { headers: bad })).status)
    expect(statuses).toEqual([401, 401, 401, 429])
    const limited = await fetch(`${server.url}/publish`, { method: 'POST', headers: bad, body: '{}' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('1')
    expect((await limited.json()).error.code).toBe('rate_limited')

    const refused = new TestSocket(wsUrl(server))
    await refused.opened
    refused.send({ type: 'connect', token: 'not.a.jwt' })
    const closed = await refused.closed
    expect(closed.code).toBe(CloseCode.RateLimited)
    expect(parseRetryAfterReason(closed.reason)).toBe(1000)

    const token = await signToken()
    const good = await fetch(`${server.url}/poll?channel=a&timeoutMs=0`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(good.status).toBe(200)
    await connect(server, token)
    // The bucket refills: after a quiet second the address gets a plain 401 again.
    clock.advance(4000)
    expect((await fetch(`${server.url}/poll?channel=a`, { headers: bad })).status).toBe(401)
  })
})

describe('KeyedRateLimiter', () => {
  it('keeps a bucket per key, bounded by maxKeys (least recently used forgotten first)', () => {
    const clock = new ManualClock()
    const limiter = new KeyedRateLimiter({ perSecond: 1, burst: 1, maxKeys: 2 }, clock)
    expect(limiter.take('a')).toEqual({ allowed: true })
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterMs: 1000 })
    expect(limiter.take('b').allowed).toBe(true)
    expect(limiter.take('a').allowed).toBe(false)
    // A third key pushes out the least recently used one ('b'), never more than two are kept.
    expect(limiter.take('c').allowed).toBe(true)
    expect(limiter.size).toBe(2)
    expect(limiter.take('b').allowed).toBe(true)
    expect(limiter.take('x'.repeat(10_000)).allowed).toBe(true)
    expect(limiter.size).toBe(2)
  })
})
