import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
import { ConnectionAdmission } from '../src/limits/ConnectionAdmission'
import { KeyedRateLimiter } from '../src/limits/RateLimiter'
import { connect, openSse, SECRET, signToken, startServer, TestSocket, wsUrl } from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

/** A seeded random source (mulberry32), so a simulated storm is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The most admissions in any half-open one-second window [t, t + 1000). */
function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= 1000) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

/** Asks at the clock's current time; returns the hint, or 0 when admitted. */
function ask(admission: ConnectionAdmission): number {
  const verdict = admission.admit()
  return verdict.admitted ? 0 : verdict.retryAfterMs
}

describe('ConnectionAdmission (paced, at most perSecond in any second)', () => {
  it('paces a fresh server from its first connection: no burst after a start', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 10, burst: 5 }, clock)
    expect(admission.admit()).toEqual({ admitted: true })
    // A bucket that starts full would admit the next four at once; a fresh server has saved no credit.
    expect(admission.admit().admitted).toBe(false)
    clock.advance(99)
    expect(admission.admit().admitted).toBe(false)
    clock.advance(1)
    expect(admission.admit()).toEqual({ admitted: true })
  })

  it('saves credit while idle, up to burst admissions back to back, then paces again', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 10, burst: 3 }, clock)
    clock.advance(60_000)
    const backToBack = Array.from({ length: 5 }, () => admission.admit().admitted)
    expect(backToBack).toEqual([true, true, true, false, false])
    clock.advance(100)
    expect(admission.admit().admitted).toBe(true)
  })

  it('defaults burst to a tenth of perSecond', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 200 }, clock)
    clock.advance(60_000)
    let admitted = 0
    while (admission.admit().admitted) admitted++
    expect(admitted).toBe(20)
  })

  it('never admits more than perSecond in any one-second window, even with burst = perSecond after a quiet period', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 20, burst: 20 }, clock)
    clock.advance(10_000)
    const admittedAt: number[] = []
    // Someone knocks every millisecond for five seconds: a bucket refilling on top of a full one admits 39
    // in the first second.
    for (let ms = 0; ms < 5000; ms++) {
      if (admission.admit().admitted) admittedAt.push(clock.now())
      clock.advance(1)
    }
    expect(busiestSecond(admittedAt)).toBe(20)
    expect(admittedAt).toHaveLength(20 + 4 * 20)
  })

  it('hands each refused connection its own later slot, one interval apart', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 10, burst: 1 }, clock)
    expect(ask(admission)).toBe(0)
    const hints = Array.from({ length: 5 }, () => ask(admission))
    expect(hints).toEqual([100, 200, 300, 400, 500])
    clock.advance(50)
    // Later callers queue behind the slots already handed out, never on top of them.
    expect(ask(admission)).toBe(550)
  })

  it('admits refused connections that come back at their slots', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 10, burst: 1 }, clock)
    const start = clock.now()
    admission.admit()
    const slots = Array.from({ length: 30 }, () => start + ask(admission)).sort((a, b) => a - b)
    for (const slot of slots) {
      clock.advance(slot - clock.now())
      expect(admission.admit()).toEqual({ admitted: true })
    }
  })

  it('caps the retry hint', () => {
    const clock = new ManualClock()
    const admission = new ConnectionAdmission({ perSecond: 1, burst: 1, maxRetryAfterMs: 2500 }, clock)
    admission.admit()
    const hints = Array.from({ length: 5 }, () => ask(admission))
    expect(hints).toEqual([1000, 2000, 2500, 2500, 2500])
  })

  it('a storm of 1,000 on a fresh server, each refused client back within its slot + 500 ms: at most perSecond in any second, everyone in within 1.2 x N / perSecond', () => {
    // The clients' side as Holdfast's client schedules it: first tries spread over 2 s (the unreachable
    // cap), refused ones back at their slot plus up to 500 ms of jitter. Simulated time, no real waiting.
    const clock = new ManualClock()
    const perSecond = 200
    const admission = new ConnectionAdmission({ perSecond }, clock)
    const random = seeded(15)
    const start = clock.now()
    const attempts: number[] = Array.from({ length: 1000 }, () => start + random() * 2000)
    const admittedAt: number[] = []
    let refusals = 0
    while (attempts.length > 0) {
      attempts.sort((a, b) => a - b)
      const at = attempts.shift()!
      clock.advance(Math.max(0, at - clock.now()))
      const verdict = admission.admit()
      if (verdict.admitted) admittedAt.push(clock.now())
      else {
        refusals++
        attempts.push(clock.now() + verdict.retryAfterMs + random() * 500)
      }
    }
    expect(busiestSecond(admittedAt)).toBeLessThanOrEqual(perSecond)
    expect(Math.max(...admittedAt) - start).toBeLessThanOrEqual(1.2 * (1000 / perSecond) * 1000)
    // Most clients are refused once and admitted at their slot; few are refused twice.
    expect(refusals).toBeLessThan(1000 * 1.2)
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
    // Paced from the start: the second connection is admitted one interval (500 ms) after the first.
    clock.advance(500)
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
