import { describe, expect, it } from 'vitest'
import {
  DEFAULT_JITTER,
  DEFAULT_RETRY_DELAYS_MS,
  parseRetryAfterMs,
  retryDelayMs,
} from '../src/dispatcher/retryDelayMs'

const S = 1000
const M = 60 * S
const H = 60 * M

describe('retryDelayMs', () => {
  it('defaults to the Standard Webhooks schedule after an immediate first attempt', () => {
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual([
      5 * S,
      5 * M,
      30 * M,
      2 * H,
      5 * H,
      10 * H,
      14 * H,
      20 * H,
      24 * H,
    ])
    expect(DEFAULT_JITTER).toBe(0.2)
  })

  it('spreads each wait over [d·0.8, d·1.2] with the default jitter', () => {
    DEFAULT_RETRY_DELAYS_MS.forEach((d, index) => {
      const retry = index + 1
      expect(retryDelayMs({ retry, random: () => 0 })).toBe(Math.round(d * 0.8))
      expect(retryDelayMs({ retry, random: () => 0.5 })).toBe(d)
      expect(retryDelayMs({ retry, random: () => 0.999999 })).toBe(Math.round(d * 1.2 - d * 0.4 * 0.000001))
    })
  })

  it('spreads the last (largest) wait too, so retries at the cap do not line up', () => {
    const last = DEFAULT_RETRY_DELAYS_MS.length
    const samples = [0.1, 0.3, 0.6, 0.9].map((r) => retryDelayMs({ retry: last, random: () => r }))
    expect(new Set(samples).size).toBe(4)
  })

  it('returns undefined once the schedule is used up', () => {
    expect(retryDelayMs({ retry: DEFAULT_RETRY_DELAYS_MS.length + 1 })).toBeUndefined()
    expect(retryDelayMs({ retry: 3, delaysMs: [1000, 2000] })).toBeUndefined()
  })

  it('uses a custom schedule and jitter', () => {
    const delaysMs = [1000, 5000, 30000, 300000, 1800000]
    expect(retryDelayMs({ retry: 2, delaysMs, jitter: 0, random: () => 0.7 })).toBe(5000)
    expect(retryDelayMs({ retry: 5, delaysMs, jitter: 0.5, random: () => 0 })).toBe(900000)
  })

  it('treats Retry-After as a floor, capped by maxRetryAfterMs', () => {
    expect(retryDelayMs({ retry: 1, jitter: 0, retryAfterMs: 60 * S })).toBe(60 * S)
    expect(retryDelayMs({ retry: 2, jitter: 0, retryAfterMs: 1 * S })).toBe(5 * M)
    expect(retryDelayMs({ retry: 1, jitter: 0, retryAfterMs: 7 * 24 * H })).toBe(24 * H)
    expect(retryDelayMs({ retry: 1, jitter: 0, retryAfterMs: 2 * H, maxRetryAfterMs: H })).toBe(H)
  })
})

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-11-24T10:00:00Z')

  it('reads delay-seconds', () => {
    expect(parseRetryAfterMs('120', now)).toBe(120_000)
    expect(parseRetryAfterMs(' 0 ', now)).toBe(0)
  })

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfterMs('Tue, 24 Nov 2026 10:02:00 GMT', now)).toBe(120_000)
    expect(parseRetryAfterMs('Tue, 24 Nov 2026 09:00:00 GMT', now)).toBe(0)
  })

  it('ignores absent and unreadable values', () => {
    expect(parseRetryAfterMs(null, now)).toBeUndefined()
    expect(parseRetryAfterMs('soon', now)).toBeUndefined()
    expect(parseRetryAfterMs('-5', now)).toBeUndefined()
    expect(parseRetryAfterMs('1.5', now)).toBeUndefined()
  })
})
