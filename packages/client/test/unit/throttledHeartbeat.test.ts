// Fault kind: in a background tab under Chrome's intensive throttling timers fire once a minute. A late
// deadline must not kill a healthy socket, but a silent peer must still be declared dead within a bounded
// number of late firings (about two throttled minutes).
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type Timers } from '../../src'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'

const MINUTE = 60_000
let fake = createFakeServer()
let clients: HoldfastClient[] = []

/** Timers as a throttled tab runs them: every callback waits for the next whole minute. */
const throttled: Timers = {
  setTimeout: (fn, ms) => {
    const due = Date.now() + ms
    return globalThis.setTimeout(fn, Math.ceil(due / MINUTE) * MINUTE - Date.now())
  },
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  fake.server.close()
  vi.useRealTimers()
})

function start(autoPong: boolean) {
  fake = createFakeServer({ autoPong })
  fake.server.listen({ onUnhandledRequest: 'error' })
  const c = createClient({
    url: BASE_URL,
    transports: ['websocket'],
    onOnline: false,
    timers: throttled,
    heartbeat: { intervalMs: 20_000, timeoutMs: 10_000 },
    backoff: { initialMs: 10 * MINUTE, maxMs: 10 * MINUTE },
    random: () => 1,
  })
  clients.push(c)
  c.subscribe('room', () => {})
  return c
}

test('a peer that went silent is declared dead after two late deadlines (about two throttled minutes)', async () => {
  const c = start(false)
  await vi.advanceTimersByTimeAsync(MINUTE)
  expect(c.state.status).toBe('connected')
  let deadAt: number | undefined
  c.onStateChange((s) => {
    if (s.status !== 'connected' && deadAt === undefined) deadAt = Date.now()
  })
  await vi.advanceTimersByTimeAsync(10 * MINUTE)
  expect(deadAt).toBeDefined()
  // The first ping goes out at the first firing after 20 s idle (1 min); its deadline fires late (2 min) and
  // pings again; the second late deadline (3 min) declares the peer dead.
  expect(deadAt).toBeLessThanOrEqual(3 * MINUTE)
  expect(c.state).toMatchObject({ status: 'reconnecting', error: { code: 'timeout' } })
})

test('a healthy socket in a throttled tab stays connected: every ping is answered', async () => {
  const c = start(true)
  await vi.advanceTimersByTimeAsync(MINUTE)
  expect(c.state.status).toBe('connected')
  const states: string[] = []
  c.onStateChange((s) => states.push(s.status))
  await vi.advanceTimersByTimeAsync(30 * MINUTE)
  expect(states).toEqual([])
  expect(c.state.status).toBe('connected')
  expect(fake.connections).toHaveLength(1)
  expect(fake.last.frames.filter((f) => f.type === 'ping').length).toBeGreaterThan(5)
})
