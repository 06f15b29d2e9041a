// Fault kind: rejected credentials must stop, not loop, on every transport and in createEventStream.
import { CloseCode } from '@holdfast/protocol'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type TransportName } from '../../src'
import { createEventStream } from '../../src/sse/createEventStream'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
const TEN_MINUTES = 600_000
let clients: HoldfastClient[] = []
let cleanup: Array<() => void> = []

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  for (const c of clients) c.close()
  for (const fn of cleanup) fn()
  clients = []
  cleanup = []
  vi.useRealTimers()
})

function client(transport: TransportName, getToken: () => string) {
  const c = createClient({
    url: BASE_URL,
    transports: [transport],
    getToken,
    onOnline: false,
    heartbeat: false,
    backoff: { initialMs: 100, maxMs: 1000 },
  })
  clients.push(c)
  c.subscribe('room', () => {})
  return c
}

/** An HTTP endpoint that refuses every token the way the reference server does. */
function refusing(path: string, code: 'unauthorized' | 'token_expired') {
  const seen: string[] = []
  const server = setupServer(
    http.get(`${BASE_URL}${path}`, ({ request }) => {
      seen.push(request.headers.get('authorization') ?? '')
      return HttpResponse.json({ error: { code, message: `token refused (${code})` } }, { status: 401 })
    }),
  )
  server.listen({ onUnhandledRequest: 'error' })
  cleanup.push(() => server.close())
  return seen
}

describe.each([
  ['sse', '/sse'],
  ['longpoll', '/poll'],
] as const)('%s', (transport, path) => {
  test('a malformed token: refreshed once, then the client stops with unauthorized', async () => {
    const seen = refusing(path, 'unauthorized')
    const getToken = vi.fn(() => 'not-a-jwt')
    const c = client(transport, getToken)
    await tick(TEN_MINUTES)
    expect(seen).toEqual(['Bearer not-a-jwt', 'Bearer not-a-jwt'])
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
  })

  test('a static token that already expired stops too', async () => {
    const seen = refusing(path, 'token_expired')
    const c = client(transport, () => 'expired-token')
    await tick(TEN_MINUTES)
    expect(seen).toHaveLength(2)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
    expect((c.state as { error: Error }).error.message).toMatch(
      /no usable token twice in a row.*token_expired/,
    )
  })
})

describe('websocket', () => {
  test.each([
    ['a malformed token (4101)', CloseCode.Unauthorized],
    ['a static expired token (4100)', CloseCode.TokenExpired],
  ])('%s: refreshed once, then the client stops', async (_name, code) => {
    const fake = createFakeServer({
      autoWelcome: false,
      onFrame: (f, conn) => f.type === 'connect' && conn.close(code, 'no'),
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => fake.server.close())
    const getToken = vi.fn(() => 'bad')
    const c = client('websocket', getToken)
    await tick(TEN_MINUTES)
    expect(fake.connections).toHaveLength(2)
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
  })
})

describe('websocket: a token that expires after the server accepted it is not a refusal', () => {
  test('two expiries within stableAfterMs, each after a welcome, do not stop the client', async () => {
    let connects = 0
    const fake = createFakeServer({ onFrame: (f) => f.type === 'connect' && connects++ })
    fake.server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => fake.server.close())
    const getToken = vi.fn(() => `token-${getToken.mock.calls.length}`)
    const c = client('websocket', getToken)
    await tick(10)
    for (let i = 0; i < 3; i++) {
      fake.last.close(CloseCode.TokenExpired, 'token expired')
      await tick(2000) // inside stableAfterMs (5 s): each expiry comes before the connection is stable
      expect(c.state.status).toBe('connected')
    }
    expect(connects).toBe(4)
    expect(getToken).toHaveBeenCalledTimes(4)
  })

  test('a server that expires every token right after accepting it gets backoff, not a tight loop', async () => {
    const fake = createFakeServer({
      onFrame: (f, conn) => {
        if (f.type === 'connect') queueMicrotask(() => conn.close(CloseCode.TokenExpired, 'token expired'))
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    cleanup.push(() => fake.server.close())
    const c = client('websocket', () => 'short-lived')
    await tick(10_000)
    // Backoff of 100 ms doubling to 1 s: about a dozen connections in 10 s, not thousands; never stopped.
    expect(fake.connections.length).toBeGreaterThan(3)
    expect(fake.connections.length).toBeLessThan(30)
    expect(c.state.status).not.toBe('closed')
  })
})

describe('createEventStream', () => {
  test('401: onUnauthorized once, then a second 401 closes the stream instead of looping', async () => {
    const seen = refusing('/feed', 'unauthorized')
    const onUnauthorized = vi.fn()
    const errors: Array<[string, boolean]> = []
    const stream = createEventStream(`${BASE_URL}/feed`, {
      onEvent: () => {},
      onUnauthorized,
      onError: (e, willRetry) => errors.push([e.code, willRetry]),
    })
    cleanup.push(() => stream.close())
    await tick(TEN_MINUTES)
    expect(seen).toHaveLength(2)
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
    expect(stream.readyState).toBe('closed')
    expect(errors.at(-1)).toEqual(['unauthorized', false])
  })
})
