import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { type ConnectionState, createClient, type HoldfastClient } from '../../src'
import { createRetryPolicy } from '../../src/core/RetryPolicy'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'
import { seededRandom } from '../helpers/seededRandom'

const stats = (xs: number[]) => ({
  min: Math.min(...xs),
  max: Math.max(...xs),
  mean: xs.reduce((a, b) => a + b, 0) / xs.length,
})

describe('full jitter (default)', () => {
  test('every draw stays inside random(0, min(maxMs, initialMs * 2^attempt))', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 10_000 }, seededRandom(1))
    for (let attempt = 0; attempt < 20; attempt++) {
      const ceiling = Math.min(10_000, 100 * 2 ** attempt)
      expect(policy.attempt).toBe(attempt)
      const d = policy.next()
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThanOrEqual(ceiling)
    }
  })

  test('at the cap 1000 draws are still spread over [0, maxMs], not clustered', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 10_000 }, seededRandom(7))
    for (let i = 0; i < 30; i++) policy.next()
    const draws = Array.from({ length: 1000 }, () => policy.next())
    const s = stats(draws)
    expect(s.min).toBeLessThan(10_000 * 0.02)
    expect(s.max).toBeGreaterThan(10_000 * 0.98)
    expect(s.mean).toBeGreaterThan(10_000 * 0.45)
    expect(s.mean).toBeLessThan(10_000 * 0.55)
    expect(new Set(draws.map(Math.round)).size).toBeGreaterThan(900)
  })

  test('reset() starts counting again from the first ceiling', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 10_000 }, () => 1)
    for (let i = 0; i < 10; i++) policy.next()
    expect(policy.next()).toBe(10_000)
    policy.reset()
    expect(policy.attempt).toBe(0)
    expect(policy.next()).toBe(100)
  })
})

describe('server hints', () => {
  test('a hint is a floor with at most initialMs of jitter above it, however many attempts came before', () => {
    const policy = createRetryPolicy({ initialMs: 200, maxMs: 30_000 }, seededRandom(3))
    for (let i = 0; i < 500; i++) {
      const d = policy.next({ hintMs: 5000 })
      expect(d).toBeGreaterThanOrEqual(5000)
      expect(d).toBeLessThanOrEqual(5200)
    }
  })

  test('hints are floors capped at an hour (a hop answering Retry-After: 99999999 must not park a client)', () => {
    const policy = createRetryPolicy({}, () => 0)
    expect(policy.next({ hintMs: 3e9 })).toBe(3_600_000)
    expect(policy.next({ hintMs: 3_599_999 })).toBe(3_599_999)
  })

  test('a hint of 0 still backs off by a random part of initialMs, so a bad hint cannot make a tight loop', () => {
    const policy = createRetryPolicy({ initialMs: 500 }, seededRandom(11))
    const draws = Array.from({ length: 200 }, () => policy.next({ hintMs: 0 }))
    expect(Math.max(...draws)).toBeLessThanOrEqual(500)
    expect(stats(draws).mean).toBeGreaterThan(150)
  })
})

describe('an unreachable server', () => {
  test('attempts that never reached the server are drawn under unreachableMaxMs and do not grow the ceiling', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 30_000, unreachableMaxMs: 2000 }, () => 1)
    for (let i = 0; i < 20; i++) expect(policy.next({ unreachable: true })).toBe(2000)
    expect(policy.attempt).toBe(20)
    // The first failure that reached the server backs off from the start of the ramp, not from 20 doublings.
    expect(policy.next()).toBe(100)
    expect(policy.next()).toBe(200)
  })

  test('unreachableMaxMs defaults to 2000, and never exceeds maxMs', () => {
    expect(createRetryPolicy({}, () => 1).next({ unreachable: true })).toBe(2000)
    expect(createRetryPolicy({ initialMs: 100, maxMs: 1000 }, () => 1).next({ unreachable: true })).toBe(1000)
  })
})

describe('equal and decorrelated jitter', () => {
  test('equal: between half and all of the ceiling', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 5000, jitter: 'equal' }, seededRandom(5))
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** attempt)
      const d = policy.next()
      expect(d).toBeGreaterThanOrEqual(ceiling / 2)
      expect(d).toBeLessThanOrEqual(ceiling)
    }
  })

  test('decorrelated: between initialMs and 3x the previous delay, capped', () => {
    const policy = createRetryPolicy({ initialMs: 100, maxMs: 5000, jitter: 'decorrelated' }, seededRandom(9))
    let previous = 100
    for (let i = 0; i < 500; i++) {
      const d = policy.next()
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(Math.min(5000, Math.max(100, previous * 3)))
      previous = d
    }
  })
})

describe('bounds', () => {
  test('a cap below the base is refused, naming maxMs', () => {
    expect(() => createRetryPolicy({ initialMs: 500, maxMs: 100 })).toThrow(
      /backoff\.maxMs must be >= initialMs \(500\), got 100/,
    )
  })
  test('createClient reports them as bad_request', () => {
    expect(() => createClient({ url: BASE_URL, backoff: { initialMs: -1 } })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    )
  })
})

describe('through real clients, with the default random source', () => {
  let fake = createFakeServer()
  let clients: HoldfastClient[] = []
  beforeEach(() => {
    vi.useFakeTimers()
    fake = createFakeServer()
    fake.server.listen({ onUnhandledRequest: 'error' })
  })
  afterEach(() => {
    for (const c of clients) c.close()
    clients = []
    fake.server.close()
    vi.useRealTimers()
  })
  const make = () => {
    const c = createClient({
      url: BASE_URL,
      transports: ['websocket'],
      onOnline: false,
      heartbeat: false,
      lazy: false,
      backoff: { initialMs: 1000, maxMs: 1000 },
    })
    clients.push(c)
    return c
  }
  /** Drops every open connection and returns how long each client will wait before its next attempt. */
  const dropAll = async (cs: HoldfastClient[]) => {
    const at = Date.now()
    for (const conn of fake.connections.splice(0)) conn.close(1001, 'going away')
    await vi.advanceTimersByTimeAsync(1)
    const waits = cs.map(
      (c) => (c.state as Extract<ConnectionState, { status: 'reconnecting' }>).nextRetryAt - at,
    )
    await vi.advanceTimersByTimeAsync(1100)
    return waits
  }

  test('two clients draw different delays for the same drop (no shared random offset)', async () => {
    const cs = [make(), make()]
    await vi.advanceTimersByTimeAsync(10)
    expect(cs.map((c) => c.state.status)).toEqual(['connected', 'connected'])
    const rounds = [await dropAll(cs), await dropAll(cs), await dropAll(cs)]
    // With a per-page random value the two clients would wait the same in every round.
    expect(rounds.some(([a, b]) => a !== b)).toBe(true)
  })

  test('one client draws anew on every attempt, even at the cap', async () => {
    const c = make()
    await vi.advanceTimersByTimeAsync(10)
    const waits: number[] = []
    for (let i = 0; i < 6; i++) waits.push(...(await dropAll([c])))
    expect(new Set(waits).size).toBeGreaterThan(1)
    for (const w of waits) expect(w).toBeLessThanOrEqual(1001)
  })
})
