import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
import { ConnectionAdmission } from '../src/limits/ConnectionAdmission'
import { connect, openSse, startServer, TestSocket, wsUrl } from './helpers/fixtures'
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

  it('admits everyone when no limit is set', async () => {
    const server = await startServer()
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(server)))
    expect(sockets).toHaveLength(20)
  })
})
