import { describe, expect, test } from 'vitest'
import { nextBackoffDelay, resolveBackoff } from '../../src'

/** A seeded PRNG so each simulated client draws its own sequence, reproducibly. */
function mulberry32(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const stats = (xs: number[]) => ({
  min: Math.min(...xs),
  max: Math.max(...xs),
  mean: xs.reduce((a, b) => a + b, 0) / xs.length,
})

describe('full jitter (default)', () => {
  const policy = resolveBackoff({ initialMs: 100, maxMs: 10_000 })

  test('every draw stays inside random(0, min(maxMs, initialMs * 2^attempt))', () => {
    const random = mulberry32(1)
    for (let attempt = 0; attempt < 20; attempt++) {
      const ceiling = Math.min(10_000, 100 * 2 ** attempt)
      for (let i = 0; i < 200; i++) {
        const d = nextBackoffDelay(policy, attempt, 0, random)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(ceiling)
      }
    }
  })

  test('at the cap 1000 draws are still spread over [0, maxMs], not clustered', () => {
    const random = mulberry32(7)
    const draws = Array.from({ length: 1000 }, () => nextBackoffDelay(policy, 30, 0, random))
    const s = stats(draws)
    expect(s.min).toBeLessThan(10_000 * 0.02)
    expect(s.max).toBeGreaterThan(10_000 * 0.98)
    expect(s.mean).toBeGreaterThan(10_000 * 0.45)
    expect(s.mean).toBeLessThan(10_000 * 0.55)
    // No lockstep: most draws are distinct at millisecond resolution.
    expect(new Set(draws.map(Math.round)).size).toBeGreaterThan(900)
  })

  test('two clients draw different delays for the same attempt', () => {
    const a = mulberry32(1)
    const b = mulberry32(2)
    const da = Array.from({ length: 10 }, (_, i) => nextBackoffDelay(policy, i, 0, a))
    const db = Array.from({ length: 10 }, (_, i) => nextBackoffDelay(policy, i, 0, b))
    expect(da).not.toEqual(db)
  })

  test('draws anew on every call (no random value fixed once per page)', () => {
    const random = mulberry32(3)
    const draws = Array.from({ length: 50 }, () => nextBackoffDelay(policy, 4, 0, random))
    expect(new Set(draws).size).toBe(50)
  })
})

describe('equal and decorrelated jitter', () => {
  test('equal: between half and all of the ceiling', () => {
    const policy = resolveBackoff({ initialMs: 100, maxMs: 5000, jitter: 'equal' })
    const random = mulberry32(5)
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** attempt)
      const d = nextBackoffDelay(policy, attempt, 0, random)
      expect(d).toBeGreaterThanOrEqual(ceiling / 2)
      expect(d).toBeLessThanOrEqual(ceiling)
    }
  })

  test('decorrelated: between initialMs and 3x the previous delay, capped', () => {
    const policy = resolveBackoff({ initialMs: 100, maxMs: 5000, jitter: 'decorrelated' })
    const random = mulberry32(9)
    let previous = 100
    for (let i = 0; i < 500; i++) {
      const d = nextBackoffDelay(policy, i, previous, random)
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(Math.min(5000, Math.max(100, previous * 3)))
      previous = d
    }
  })

  test('rejects nonsense bounds with a clear error', () => {
    expect(() => resolveBackoff({ initialMs: 0 })).toThrow(/initialMs/)
    expect(() => resolveBackoff({ initialMs: 500, maxMs: 100 })).toThrow(/maxMs/)
  })
})
