// Fault kind: a delay past 2^31-1 ms fires at once in every engine, turning a far-off token expiry or a
// large server hint into a request storm. Every delay in the client goes through one scheduler that waits
// such delays in steps, and a server hint is a floor that is never shortened.
import { CloseCode, formatRetryAfterReason } from '@holdfast/protocol'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient } from '../../src'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'
import { fakeJwt } from '../helpers/jwt'

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
const MINUTE = 60_000
let clients: HoldfastClient[] = []
let cleanup: Array<() => void> = []

function client(options: Partial<Parameters<typeof createClient>[0]>) {
  const c = createClient({ url: BASE_URL, onOnline: false, heartbeat: false, lazy: false, ...options })
  clients.push(c)
  return c
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  for (const c of clients) c.close()
  for (const fn of cleanup) fn()
  clients = []
  cleanup = []
  vi.useRealTimers()
})

describe('a token that expires in 25 days', () => {
  test('is fetched once, not refreshed in a loop, on WebSocket', async () => {
    const fake = createFakeServer()
    fake.server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => fake.server.close())
    const getToken = vi.fn(() => fakeJwt(Math.floor(Date.now() / 1000) + 25 * 24 * 3600))
    client({ transports: ['websocket'], getToken })
    await tick(MINUTE)
    expect(getToken).toHaveBeenCalledTimes(1)
    expect(fake.last.frames.filter((f) => f.type === 'auth')).toHaveLength(0)
    expect(fake.connections).toHaveLength(1)
  })

  test('is fetched once on SSE, which does not reconnect to refresh it', async () => {
    let requests = 0
    const server = setupServer(
      http.get(`${BASE_URL}/sse`, ({ request }) => {
        requests++
        const channel = new URL(request.url).searchParams.get('channel')
        return new HttpResponse(
          `event: subscribed\ndata: ${JSON.stringify({ channel, epoch: 'e', cursor: 'e:0', recovered: true })}\n\n`,
          { headers: { 'content-type': 'text/event-stream' } },
        )
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => server.close())
    const getToken = vi.fn(() => fakeJwt(Math.floor(Date.now() / 1000) + 25 * 24 * 3600))
    // The stream ends at once; the next attempt waits the whole backoff (random() = 1), a minute.
    const c = client({
      transports: ['sse'],
      getToken,
      backoff: { initialMs: MINUTE, maxMs: MINUTE },
      random: () => 1,
    })
    c.subscribe('a', () => {})
    await tick(MINUTE / 2)
    expect(getToken).toHaveBeenCalledTimes(1)
    expect(requests).toBe(1)
  })
})

describe('server hints past 2^31-1 ms are floors capped at an hour, never fired at once', () => {
  test('Retry-After: 2147484 on an SSE 503', async () => {
    let requests = 0
    const server = setupServer(
      http.get(`${BASE_URL}/sse`, () => {
        requests++
        return HttpResponse.json(
          { error: { code: 'server_restart', message: 'busy' } },
          { status: 503, headers: { 'retry-after': '2147484' } },
        )
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => server.close())
    const c = client({ transports: ['sse'] })
    c.subscribe('a', () => {})
    await tick(10 * MINUTE)
    expect(requests).toBe(1)
    expect(c.state).toMatchObject({ status: 'reconnecting' })
    // 24.8 days asked for; an hour waited (a hop's Retry-After must not park a client for weeks).
    const left = (c.state as { nextRetryAt: number }).nextRetryAt - Date.now()
    expect(left).toBeGreaterThan(49 * MINUTE)
    expect(left).toBeLessThanOrEqual(50 * MINUTE + 1000)
    await tick(51 * MINUTE)
    expect(requests).toBe(2)
  })

  test('Retry-After on a long-poll 429', async () => {
    let requests = 0
    const server = setupServer(
      http.get(`${BASE_URL}/poll`, () => {
        requests++
        return HttpResponse.json(
          { error: { code: 'rate_limited', message: 'slow down' } },
          { status: 429, headers: { 'retry-after': '3000000' } },
        )
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => server.close())
    const c = client({ transports: ['longpoll'] })
    c.subscribe('a', () => {})
    await tick(10 * MINUTE)
    expect(requests).toBe(1)
  })

  test('SSE retry: 3000000000, then the stream ends', async () => {
    let requests = 0
    const server = setupServer(
      http.get(`${BASE_URL}/sse`, ({ request }) => {
        requests++
        const channel = new URL(request.url).searchParams.get('channel')
        return new HttpResponse(
          `retry: 3000000000\n\nevent: subscribed\ndata: ${JSON.stringify({ channel, epoch: 'e', cursor: 'e:0', recovered: true })}\n\n`,
          { headers: { 'content-type': 'text/event-stream' } },
        )
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => server.close())
    const c = client({ transports: ['sse'] })
    c.subscribe('a', () => {})
    await tick(10 * MINUTE)
    expect(requests).toBe(1)
  })

  test('a WebSocket close whose reason asks for 3e9 ms', async () => {
    const fake = createFakeServer()
    fake.server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => fake.server.close())
    const c = client({ transports: ['websocket'] })
    c.subscribe('a', () => {})
    await tick(10)
    fake.last.close(CloseCode.ServerRestart, formatRetryAfterReason(3e9))
    await tick(10 * MINUTE)
    expect(fake.connections).toHaveLength(1)
    expect(c.state.status).toBe('reconnecting')
  })
})
