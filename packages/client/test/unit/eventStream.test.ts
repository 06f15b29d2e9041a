import { setupServer } from 'msw/node'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import {
  createEventStream,
  type EventStream,
  type HoldfastError,
  type StreamEvent,
} from '../../src/eventStream'
import { HttpResponse, sseEndpoint } from '../helpers/sseMock'

const URL = 'http://sse.test/events'
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
let server: ReturnType<typeof setupServer> | undefined
let stream: EventStream | undefined

function setup(respond?: Parameters<typeof sseEndpoint>[1]) {
  const endpoint = sseEndpoint(URL, respond)
  server = setupServer(endpoint.handler)
  server.listen({ onUnhandledRequest: 'error' })
  return endpoint
}

function open(options: Partial<Parameters<typeof createEventStream>[1]> = {}) {
  const events: StreamEvent[] = []
  const errors: HoldfastError[] = []
  stream = createEventStream(URL, {
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
    backoff: { initialMs: 100, maxMs: 100 },
    random: () => 1,
    ...options,
  })
  return { events, errors }
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  stream?.close()
  server?.close()
  vi.useRealTimers()
})

describe('parsing (eventsource-parser under our reader)', () => {
  test('a chunk split mid-line, mid-field and mid-character still yields whole events', async () => {
    const sse = setup()
    const { events } = open()
    await tick(1)
    const bytes = new TextEncoder().encode('id: 1\ndata: héllo wörld\n\n')
    for (const b of bytes) sse.last.write(new Uint8Array([b]))
    await tick(1)
    expect(events).toEqual([{ id: '1', event: undefined, data: 'héllo wörld' }])
  })

  test('CRLF and lone CR line ends', async () => {
    const sse = setup()
    const { events } = open()
    await tick(1)
    sse.last.write('data: crlf\r\n\r\ndata: cr\r\rdata: lf\n\n')
    await tick(1)
    expect(events.map((e) => e.data)).toEqual(['crlf', 'cr', 'lf'])
  })

  test('multi-line data is joined with newlines; comments are not events', async () => {
    const sse = setup()
    const { events } = open()
    await tick(1)
    sse.last.write(': a comment\ndata: line one\ndata: line two\n: another\n\n')
    await tick(1)
    expect(events).toEqual([{ id: undefined, event: undefined, data: 'line one\nline two' }])
  })

  // WHATWG SSE: an id-only block dispatches nothing but still moves lastEventId.
  test('named events, an id with no data (dispatches nothing, moves lastEventId) and a BOM', async () => {
    const sse = setup()
    const { events } = open()
    await tick(1)
    sse.last.write(new Uint8Array([0xef, 0xbb, 0xbf]))
    sse.last.write('event: tick\ndata: 1\nid: a\n\nid: b\n\n')
    await tick(1)
    expect(events).toEqual([{ id: 'a', event: 'tick', data: '1' }])
    expect(stream!.lastEventId).toBe('b')
  })
})

describe('resilience', () => {
  test('sends Last-Event-ID on resume and waits at least the server retry: value', async () => {
    const sse = setup()
    open()
    await tick(1)
    sse.last.write('retry: 3000\nid: 42\ndata: x\n\n')
    await tick(1)
    sse.last.end()
    await tick(2900)
    expect(sse.connections).toHaveLength(1)
    await tick(200)
    expect(sse.connections).toHaveLength(2)
    expect(sse.last.request.headers.get('last-event-id')).toBe('42')
  })

  test('a silent stream (not even comments) is dead after idleTimeoutMs; comments keep it alive', async () => {
    const sse = setup()
    const { errors } = open({ idleTimeoutMs: 1000 })
    await tick(1)
    for (let i = 0; i < 5; i++) {
      await tick(800)
      sse.last.write(': hb\n\n')
    }
    expect(sse.connections).toHaveLength(1)
    await tick(1100)
    expect(errors.map((e) => e.code)).toContain('timeout')
    await tick(200)
    expect(sse.connections).toHaveLength(2)
  })

  test('401: refreshes (onUnauthorized) and reconnects at once with new headers', async () => {
    let token = 'old'
    const sse = setup((req) =>
      req.headers.get('authorization') === 'Bearer old' ? new HttpResponse(null, { status: 401 }) : undefined,
    )
    open({
      headers: () => ({ authorization: `Bearer ${token}` }),
      onUnauthorized: () => {
        token = 'new'
      },
    })
    await tick(5)
    expect(sse.connections).toHaveLength(2)
    expect(sse.last.request.headers.get('authorization')).toBe('Bearer new')
    expect(stream!.readyState).toBe('open')
  })

  test('429 with Retry-After waits at least that long', async () => {
    const sse = setup((_req, i) =>
      i === 0 ? new HttpResponse(null, { status: 429, headers: { 'retry-after': '5' } }) : undefined,
    )
    const { errors } = open()
    await tick(4900)
    expect(sse.connections).toHaveLength(1)
    expect(errors[0]?.code).toBe('rate_limited')
    await tick(200)
    expect(sse.connections).toHaveLength(2)
  })

  test('403 and non-SSE answers stop with a typed error instead of looping', async () => {
    const sse = setup(
      () => new HttpResponse('<html>proxy login</html>', { headers: { 'content-type': 'text/html' } }),
    )
    const { errors } = open()
    await tick(10_000)
    expect(sse.connections).toHaveLength(1)
    expect(errors.map((e) => e.code)).toEqual(['transport_unavailable'])
    expect(stream!.readyState).toBe('closed')
  })
})
