// Fault kind: whatever getToken() does (the same short-lived token again and again, never settling, throwing,
// resolving to a non-string), the client asks at a bounded rate and ends in a typed state, on every transport.
import { CloseCode } from '@holdfast/protocol'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type TransportName } from '../../src'
import { jwtExpiresAtMs } from '../../src/core/TokenManager'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'
import { fakeJwt } from '../helpers/jwt'
import { sseEndpoint } from '../helpers/sseMock'

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
let clients: HoldfastClient[] = []
let stop: Array<() => void> = []

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  for (const c of clients) c.close()
  for (const fn of stop) fn()
  clients = []
  stop = []
  vi.useRealTimers()
})

/** The token of a request has expired, by the (fake) clock, as the reference server checks it. */
const expired = (bearer: string | null | undefined) =>
  (jwtExpiresAtMs(bearer?.replace('Bearer ', '') ?? '') ?? Number.POSITIVE_INFINITY) <= Date.now()
const tokenExpired = () =>
  HttpResponse.json({ error: { code: 'token_expired', message: 'token expired' } }, { status: 401 })

/**
 * A Holdfast endpoint for `transport` that refuses an expired token (401, or close 4100 at `connect`) and
 * otherwise serves the channel: a stream that stays open, a poll held after the first answer. Counts what
 * the client sends: requests, or WebSocket connections and `auth` frames.
 */
function serve(transport: TransportName) {
  const seen = { requests: 0, auths: 0 }
  if (transport === 'websocket') {
    const fake = createFakeServer({
      autoWelcome: false,
      onFrame: (frame, conn) => {
        if (frame.type === 'auth') seen.auths++
        if (frame.type !== 'connect') return
        seen.requests++
        if (expired(frame.token)) conn.close(CloseCode.TokenExpired, 'token expired')
        else conn.send({ type: 'welcome', session: 's', maxMessageBytes: 1024 })
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    stop.push(() => fake.server.close())
    return seen
  }
  const sse = sseEndpoint(
    `${BASE_URL}/sse`,
    (request) => (expired(request.headers.get('authorization')) ? tokenExpired() : undefined),
    { autoSubscribe: true },
  )
  const server = setupServer(
    sse.handler,
    http.get(`${BASE_URL}/poll`, ({ request }) => {
      if (expired(request.headers.get('authorization'))) return tokenExpired()
      if (new URL(request.url).searchParams.get('since')) return new Promise<Response>(() => {}) // held
      return HttpResponse.json({
        since: 'room=e1:0',
        messages: [],
        subscribed: [{ channel: 'room', epoch: 'e1', cursor: 'e1:0', recovered: true }],
      })
    }),
  )
  server.events.on('request:start', () => seen.requests++)
  server.listen({ onUnhandledRequest: 'error' })
  stop.push(() => server.close())
  return seen
}

function client(transport: TransportName, getToken: () => unknown) {
  const c = createClient({
    url: BASE_URL,
    transports: [transport],
    getToken: getToken as () => string,
    onOnline: false,
    heartbeat: false,
    backoff: { initialMs: 100, maxMs: 1000 },
    random: () => 1,
  })
  clients.push(c)
  c.subscribe('room', () => {})
  return c
}

describe.each(['websocket', 'sse', 'longpoll'] as const)('%s', (transport) => {
  test('getToken returning the same token that expires in 4 s: refreshes back off, no storm, then a typed stop', async () => {
    const seen = serve(transport)
    const token = fakeJwt(Math.floor(Date.now() / 1000) + 4)
    const getToken = vi.fn(() => token)
    const c = client(transport, getToken)
    await tick(60_000)
    // Refreshes at 2 s (half the life), then 2, 4, 8, 16, 32 s apart; the same token is not sent again. Before the
    // fix: 56,000 getToken calls on WebSocket, 16-17 requests on SSE and long polling (in fake time).
    expect(getToken.mock.calls.length).toBeLessThanOrEqual(8)
    expect(seen.requests).toBeLessThanOrEqual(5)
    expect(seen.auths).toBe(0)
    // The HTTP transports find the token expired (stream idle, poll unanswered), and stop after two refusals.
    if (transport !== 'websocket')
      expect(c.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
  })

  test('a getToken call that never settles times out (tokenTimeoutMs), backs off and asks again', async () => {
    serve(transport)
    const getToken = vi.fn(() => (getToken.mock.calls.length === 1 ? new Promise<string>(() => {}) : 'tok'))
    const c = client(transport, getToken)
    await tick(9_990)
    expect(c.state.status).toBe('connecting')
    await tick(20)
    expect(c.state).toMatchObject({ status: 'reconnecting', error: { code: 'timeout' } })
    await tick(200)
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(c.state.status).toBe('connected')
  })

  test('close() abandons a getToken call in flight: connect() asks anew', async () => {
    serve(transport)
    const getToken = vi.fn(() => (getToken.mock.calls.length === 1 ? new Promise<string>(() => {}) : 'tok'))
    const c = client(transport, getToken)
    await tick(100)
    c.close()
    c.connect()
    await tick(100)
    expect(getToken).toHaveBeenCalledTimes(2)
    expect(c.state.status).toBe('connected')
  })

  test.each([
    ['resolves to a number', () => 42, 'bad_request'],
    [
      'throws',
      () => {
        throw new Error('auth backend down')
      },
      'unauthorized',
    ],
  ])(
    'a getToken that %s: asked again after a backoff, then stops like a refused token',
    async (_name, fn, cause) => {
      const seen = serve(transport)
      const getToken = vi.fn(fn)
      const c = client(transport, getToken)
      const states: string[] = []
      c.onStateChange((s) => states.push(s.status))
      await tick(600_000)
      expect(getToken).toHaveBeenCalledTimes(2)
      expect(seen.requests).toBe(0)
      expect(states).toContain('reconnecting')
      expect(c.state).toMatchObject({
        status: 'closed',
        error: { code: 'unauthorized', cause: { code: cause } },
      })
    },
  )
})
