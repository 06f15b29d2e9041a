import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { globalTimers, MAX_TIMER_MS, Timer } from '../../src/core/timers'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('Timer, the client scheduler', () => {
  test('a delay past 2^31-1 ms (about 24.8 days) is waited in full, not fired at once', async () => {
    const fired = vi.fn()
    const timer = new Timer(globalTimers)
    const days25 = 25 * 24 * 3600 * 1000
    timer.start(days25, fired)
    await vi.advanceTimersByTimeAsync(1000)
    expect(fired).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS)
    expect(fired).not.toHaveBeenCalled()
    expect(timer.pending).toBe(true)
    await vi.advanceTimersByTimeAsync(days25 - MAX_TIMER_MS - 1001)
    expect(fired).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(fired).toHaveBeenCalledTimes(1)
    expect(timer.pending).toBe(false)
  })

  test('it never hands the engine more than 2^31-1 ms', () => {
    const handed: number[] = []
    const timer = new Timer({ setTimeout: (_fn, ms) => handed.push(ms), clearTimeout: () => {} })
    for (const ms of [3e9, 2 ** 31, Number.POSITIVE_INFINITY, 1e15]) timer.start(ms, () => {})
    expect(Math.max(...handed)).toBe(MAX_TIMER_MS)
  })

  test('negative and NaN delays count as 0', () => {
    const handed: number[] = []
    const timer = new Timer({ setTimeout: (_fn, ms) => handed.push(ms), clearTimeout: () => {} })
    for (const ms of [-5, Number.NaN]) timer.start(ms, () => {})
    expect(handed).toEqual([0, 0])
  })

  test('cancel() stops a long timer between its steps, and start() replaces the pending one', async () => {
    const fired = vi.fn()
    const timer = new Timer(globalTimers)
    timer.start(3e9, fired)
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 10)
    timer.cancel()
    await vi.advanceTimersByTimeAsync(3e9)
    expect(fired).not.toHaveBeenCalled()
    timer.start(100, fired)
    timer.start(200, fired)
    await vi.advanceTimersByTimeAsync(200)
    expect(fired).toHaveBeenCalledTimes(1)
  })
})
