import { describe, expect, test } from 'vitest'
import { type ClientOptions, createClient, HoldfastError } from '../../src'
import { createEventStream } from '../../src/eventStream'

// Every count and duration a client takes. A NaN, negative, infinite or string value reaching a timer fires it at
// once, often in a loop (heartbeat.intervalMs: NaN pinged once per round trip; holdMs: -1 polled without a pause),
// so each is refused up front, naming the option. 0 is accepted only where it means "off" or "none".
const NUMBERS: { path: string; zeroAllowed: boolean }[] = [
  { path: 'tokenRefreshMarginMs', zeroAllowed: true },
  { path: 'openTimeoutMs', zeroAllowed: false },
  { path: 'tokenTimeoutMs', zeroAllowed: false },
  { path: 'idleTimeoutMs', zeroAllowed: false },
  { path: 'holdMs', zeroAllowed: false },
  { path: 'heartbeat.intervalMs', zeroAllowed: false },
  { path: 'heartbeat.timeoutMs', zeroAllowed: false },
  { path: 'backoff.initialMs', zeroAllowed: false },
  { path: 'backoff.maxMs', zeroAllowed: false },
  { path: 'backoff.stableAfterMs', zeroAllowed: true },
  { path: 'backoff.unreachableMaxMs', zeroAllowed: false },
  { path: 'queue.maxMessages', zeroAllowed: true },
  { path: 'queue.maxBytes', zeroAllowed: true },
  { path: 'queue.ttlMs', zeroAllowed: false },
  { path: 'fallback.probeIntervalMs', zeroAllowed: true },
  { path: 'fallback.failuresBeforeFallback', zeroAllowed: true },
]

function withOption(path: string, value: unknown): ClientOptions {
  const [group, key] = path.includes('.') ? path.split('.') : [undefined, path]
  const options: Record<string, unknown> = { url: 'http://127.0.0.1:1', lazy: true }
  // backoff.maxMs must stay >= initialMs: give the base a value every tested maxMs passes.
  if (group) options[group] = { ...(group === 'backoff' ? { initialMs: 1e-9 } : {}), [key!]: value }
  else options[key!] = value
  return options as unknown as ClientOptions
}

function refusal(options: ClientOptions): HoldfastError | undefined {
  try {
    createClient(options).close()
    return undefined
  } catch (error) {
    return error as HoldfastError
  }
}

describe.each(NUMBERS)('$path', ({ path, zeroAllowed }) => {
  const key = path.split('.').pop()!
  const ms = key.endsWith('Ms')
  // A duration past what a timer can wait fires at once (setTimeout above 2^31-1 ms): 2^31 is refused too.
  const bad: unknown[] = [
    Number.NaN,
    -1,
    Number.POSITIVE_INFINITY,
    '5000',
    null,
    ...(zeroAllowed ? [] : [0]),
    ...(ms ? [2 ** 31] : []),
  ]
  test.each(bad)('%s is refused with bad_request naming the option', (value) => {
    const error = refusal(withOption(path, value))
    expect(error).toBeInstanceOf(HoldfastError)
    expect(error?.code).toBe('bad_request')
    expect(error?.message).toContain(
      `${key} must be a finite number ${zeroAllowed ? '>=' : '>'} 0${ms ? ' below 24 days' : ''}, got ${value}`,
    )
  })
  test.each([...(zeroAllowed ? [0] : []), 1, 2_500])('%s is accepted', (value) => {
    expect(refusal(withOption(path, value))).toBeUndefined()
  })
})

test('heartbeat: false stays a valid way to turn the heartbeat off', () => {
  expect(refusal({ url: 'http://127.0.0.1:1', lazy: true, heartbeat: false })).toBeUndefined()
})

describe('createEventStream checks its numbers the same way', () => {
  test.each([
    [{ idleTimeoutMs: Number.NaN }, 'idleTimeoutMs'],
    [{ idleTimeoutMs: 0 }, 'idleTimeoutMs'],
    [{ backoff: { initialMs: -5 } }, 'initialMs'],
    [{ backoff: { maxMs: Number.POSITIVE_INFINITY } }, 'maxMs'],
  ])('%o is refused before any request', (options, key) => {
    let requests = 0
    const fetch = (async () => {
      requests++
      return new Response('')
    }) as typeof globalThis.fetch
    expect(() => createEventStream('http://sse.test/', { onEvent() {}, fetch, ...options })).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringContaining(`${key} must be`) }),
    )
    expect(requests).toBe(0)
  })
})
