import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type HoldfastError } from '../../src'
import { BASE_URL } from '../helpers/fakeServer'
import { sseEndpoint } from '../helpers/sseMock'

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
let server: ReturnType<typeof setupServer> | undefined
let clients: HoldfastClient[] = []

function client(options: Partial<Parameters<typeof createClient>[0]> = {}) {
  const c = createClient({
    url: BASE_URL,
    onOnline: false,
    backoff: { initialMs: 100, maxMs: 100 },
    random: () => 1,
    ...options,
  })
  clients.push(c)
  return c
}

const subscribed = (channel: string, cursor: string, map: string) =>
  `event: subscribed\nid: ${map}\ndata: ${JSON.stringify({ channel, epoch: 'e1', cursor, recovered: true })}\n\n`
const message = (channel: string, cursor: string, data: unknown, map: string) =>
  `id: ${map}\ndata: ${JSON.stringify({ channel, cursor, data })}\n\n`

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  server?.close()
  vi.useRealTimers()
})

describe('SSE transport', () => {
  function setup(respond?: Parameters<typeof sseEndpoint>[1]) {
    const sse = sseEndpoint(`${BASE_URL}/sse`, respond)
    server = setupServer(
      sse.handler,
      http.post(`${BASE_URL}/publish`, async ({ request }) => {
        expect(await request.json()).toEqual({ channel: 'a', data: { x: 1 } })
        return HttpResponse.json({
          cursor: 'e1:99',
          duplicate: request.headers.get('idempotency-key') === 'dup',
        })
      }),
      http.get(`${BASE_URL}/health`, () => HttpResponse.json({ status: 'ok' })),
    )
    server.listen({ onUnhandledRequest: 'error' })
    return sse
  }

  test('streams several channels on one connection and resumes all of them with one Last-Event-ID', async () => {
    const sse = setup()
    const c = client({ transports: ['sse'], getToken: () => 'tok' })
    const got: string[] = []
    c.subscribe('a', (m) => got.push(`a${m.data}`))
    c.subscribe('b', (m) => got.push(`b${m.data}`))
    await tick(5)
    expect(sse.connections).toHaveLength(1)
    const url = new URL(sse.last.request.url)
    expect(url.searchParams.getAll('channel')).toEqual(['a', 'b'])
    expect(sse.last.request.headers.get('authorization')).toBe('Bearer tok')
    expect(sse.last.request.headers.get('accept')).toBe('text/event-stream')
    sse.last.write(subscribed('a', 'e1:0', 'a=e1:0,b=e1:0') + subscribed('b', 'e1:4', 'a=e1:0,b=e1:4'))
    sse.last.write(message('a', 'e1:1', 1, 'a=e1:1,b=e1:4') + message('b', 'e1:5', 5, 'a=e1:1,b=e1:5'))
    await tick(1)
    expect(c.state).toMatchObject({ status: 'connected', transport: 'sse' })
    expect(got).toEqual(['a1', 'b5'])
    sse.last.error()
    await tick(150)
    expect(sse.connections).toHaveLength(2)
    expect(sse.last.request.headers.get('last-event-id')).toBe('a=e1:1,b=e1:5')
  })

  test('subscribing to another channel reopens the stream from the current cursors, without a backoff wait', async () => {
    const sse = setup()
    const c = client({ transports: ['sse'], backoff: { initialMs: 10_000, maxMs: 10_000 } })
    c.subscribe('a', () => {})
    await tick(5)
    sse.last.write(subscribed('a', 'e1:3', 'a=e1:3'))
    await tick(1)
    c.subscribe('b', () => {})
    await tick(5)
    expect(sse.connections).toHaveLength(2)
    expect(new URL(sse.last.request.url).searchParams.getAll('channel')).toEqual(['a', 'b'])
    expect(sse.last.request.headers.get('last-event-id')).toBe('a=e1:3')
    expect(c.state.status).toBe('connected')
  })

  test('a wake-up (online, page visible) leaves a quiet SSE stream alone: it cannot be pinged', async () => {
    const sse = setup()
    let wake: (() => void) | undefined
    const c = client({
      transports: ['sse'],
      heartbeat: { intervalMs: 1000, timeoutMs: 1000 },
      onOnline: (fn) => {
        wake = fn
        return () => {}
      },
    })
    c.subscribe('a', () => {})
    await tick(5)
    sse.last.write(subscribed('a', 'e1:3', 'a=e1:3'))
    await tick(1)
    expect(c.state.status).toBe('connected')
    wake!()
    // Quiet for longer than any heartbeat deadline, well inside the SSE idle timeout.
    await tick(5000)
    expect(sse.connections).toHaveLength(1)
    expect(c.state.status).toBe('connected')
  })

  test('401 refreshes the token and reconnects at once with the new Authorization header', async () => {
    let n = 0
    const sse = setup((req) =>
      req.headers.get('authorization') === 'Bearer t1' ? new HttpResponse(null, { status: 401 }) : undefined,
    )
    const c = client({
      transports: ['sse'],
      getToken: () => `t${++n}`,
      backoff: { initialMs: 10_000, maxMs: 10_000 },
    })
    c.subscribe('a', () => {})
    await tick(10)
    expect(sse.connections).toHaveLength(2)
    expect(sse.last.request.headers.get('authorization')).toBe('Bearer t2')
  })

  test('403 stops with the error', async () => {
    const sse = setup(() =>
      HttpResponse.json({ error: { code: 'forbidden', message: 'nope' } }, { status: 403 }),
    )
    const c = client({ transports: ['sse'] })
    c.subscribe('a', () => {})
    await tick(60_000)
    expect(sse.connections).toHaveLength(1)
    expect(c.state).toMatchObject({ status: 'closed', error: { code: 'forbidden' } })
  })

  test('429 with Retry-After: the next attempt waits at least that long, jittered above', async () => {
    const sse = setup((_r, i) =>
      i === 0 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '3' } }) : undefined,
    )
    const c = client({ transports: ['sse'] })
    c.subscribe('a', () => {})
    await tick(5)
    await tick(3000)
    expect(sse.connections).toHaveLength(1)
    await tick(150)
    expect(sse.connections).toHaveLength(2)
  })

  test('a stream whose headers arrive but whose first event does not within openTimeoutMs is reported as proxy buffering', async () => {
    const sse = setup()
    const c = client({ transports: ['sse'], openTimeoutMs: 2000 })
    const errors: HoldfastError[] = []
    c.on('error', (e) => errors.push(e))
    c.subscribe('a', () => {})
    await tick(1999)
    expect(errors).toEqual([])
    // Heartbeat comments prove bytes flow, but no event: a proxy holds the events back.
    sse.last.write(': hb 1\n\n')
    await tick(2)
    expect(errors.map((e) => e.code)).toEqual(['proxy_buffering'])
    expect(c.state.status).not.toBe('connected')
  })

  test('publishing over SSE goes through POST /publish with an idempotency key', async () => {
    setup()
    const c = client({ transports: ['sse'], lazy: false })
    await tick(5)
    expect(c.state.status).toBe('connected')
    await expect(c.publish('a', { x: 1 }, { key: 'dup' })).resolves.toEqual({
      cursor: 'e1:99',
      duplicate: true,
    })
  })
})

describe('long-polling transport', () => {
  test('polls with the cursor map and delivers messages in order, polling again at once', async () => {
    const polls: URL[] = []
    server = setupServer(
      http.get(`${BASE_URL}/poll`, ({ request }) => {
        const url = new URL(request.url)
        polls.push(url)
        if (!url.searchParams.get('since')) {
          return HttpResponse.json({
            since: 'a=e1:0',
            messages: [],
            subscribed: [{ channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true }],
          })
        }
        if (polls.length === 2) {
          return HttpResponse.json({
            since: 'a=e1:2',
            messages: [
              { channel: 'a', cursor: 'e1:1', data: 1 },
              { channel: 'a', cursor: 'e1:2', data: 2 },
            ],
          })
        }
        return new Promise<Response>(() => {}) // held open
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    const c = client({ transports: ['longpoll'] })
    const got: unknown[] = []
    c.subscribe('a', (m) => got.push(m.data))
    await tick(10)
    expect(got).toEqual([1, 2])
    expect(polls.map((u) => u.searchParams.get('since'))).toEqual([null, 'a=e1:0', 'a=e1:2'])
    expect(c.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  })

  test('a channel resumed in full is confirmed once per connection, not on every poll; again after a reconnect', async () => {
    let polls = 0
    let release: ((response: Response) => void) | undefined
    server = setupServer(
      http.get(`${BASE_URL}/poll`, ({ request }) => {
        polls++
        // Every fourth poll is held until the test ends it (with a network error: the connection drops).
        if (polls % 4 === 0) return new Promise<Response>((resolve) => (release = resolve))
        const since = new URL(request.url).searchParams.get('since')
        // Resumed in full: the channel is not listed in `subscribed` (PROTOCOL.md §5); one message per poll.
        const n = Number(since?.split(':').pop() ?? 0) + 1
        return HttpResponse.json({
          since: `a=e1:${n}`,
          messages: [{ channel: 'a', cursor: `e1:${n}`, data: n }],
        })
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    const c = client({ transports: ['longpoll'] })
    const confirmations: unknown[] = []
    const got: unknown[] = []
    c.subscribe('a', (m) => got.push(m.data), {
      since: 'e1:0',
      onSubscribed: (info) => confirmations.push(info),
    })
    await tick(10)
    expect(polls).toBe(4)
    expect(got).toEqual([1, 2, 3])
    expect(confirmations).toEqual([{ channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true }])
    release!(HttpResponse.error())
    await tick(200) // the backoff after the failed poll, then three more answers
    expect(polls).toBe(8)
    expect(got).toEqual([1, 2, 3, 4, 5, 6])
    expect(confirmations).toEqual([
      { channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true },
      { channel: 'a', epoch: 'e1', cursor: 'e1:3', recovered: true },
    ])
  })

  test('a poll that outlives the hold is treated as a black hole and retried', async () => {
    let polls = 0
    server = setupServer(
      http.get(`${BASE_URL}/poll`, () => {
        polls++
        return new Promise<Response>(() => {})
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    const c = client({ transports: ['longpoll'] })
    c.subscribe('a', () => {})
    await tick(25_000 + 10_000 + 200)
    expect(polls).toBe(2)
    expect(c.state.status).not.toBe('closed')
  })
})

describe.each(['sse', 'longpoll'] as const)('%s: one forbidden channel among several', (transport) => {
  test('only that channel is refused (its onError), the rest is asked for again at once and flows', async () => {
    const asked: string[][] = []
    const refuse = (request: Request) => {
      const channels = new URL(request.url).searchParams.getAll('channel')
      asked.push(channels)
      return channels.includes('secret')
        ? HttpResponse.json(
            {
              error: {
                code: 'forbidden',
                message: 'not allowed to subscribe to "secret"',
                channel: 'secret',
              },
            },
            { status: 403 },
          )
        : undefined
    }
    const sse = sseEndpoint(`${BASE_URL}/sse`, refuse, { autoSubscribe: true })
    server = setupServer(
      sse.handler,
      http.get(`${BASE_URL}/poll`, ({ request }) => {
        const refused = refuse(request)
        if (refused) return refused
        if (new URL(request.url).searchParams.get('since')) return new Promise<Response>(() => {}) // held
        return HttpResponse.json({
          since: 'chat=e1:0',
          messages: [{ channel: 'chat', cursor: 'e1:1', data: 1 }],
          subscribed: [{ channel: 'chat', epoch: 'e1', cursor: 'e1:0', recovered: true }],
        })
      }),
    )
    server.listen({ onUnhandledRequest: 'error' })
    const c = client({ transports: [transport], backoff: { initialMs: 10_000, maxMs: 10_000 } })
    const errors: Record<string, string[]> = { chat: [], secret: [] }
    c.subscribe('chat', () => {}, { onError: (e) => errors.chat!.push(e.code) })
    c.subscribe('secret', () => {}, { onError: (e) => errors.secret!.push(e.code) })
    await tick(10)
    if (transport === 'sse') sse.last.write(message('chat', 'e1:1', 1, 'chat=e1:1'))
    await tick(10)
    // Before the fix: closed(forbidden) after the first request, and neither onError was called.
    expect(c.state).toMatchObject({ status: 'connected', transport })
    expect(errors).toEqual({ chat: [], secret: ['forbidden'] })
    expect(asked.slice(0, 2)).toEqual([['chat', 'secret'], ['chat']])
    expect(asked.every((channels, i) => i === 0 || !channels.includes('secret'))).toBe(true)
    expect(c.stats.messagesDelivered).toBe(1)
  })
})
