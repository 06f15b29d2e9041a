// One disconnect classifier for all three transports and createEventStream: one table per transport, each
// row built the way that transport reports a disconnect.
import { CloseCode, formatRetryAfterReason } from '@holdfast/protocol'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { classifyDisconnect, type Decision, type Disconnect } from '../../src/core/classifyDisconnect'
import { globalTimers } from '../../src/core/timers'
import { HoldfastError } from '../../src/HoldfastError'
import { readEventStream } from '../../src/sse/readEventStream'
import { request } from '../../src/transports/httpTransport'
import type { TransportHost } from '../../src/transports/Transport'

type Expected = {
  action: Decision['action']
  code: string
  hintMs?: number
  unreachable?: boolean
  message?: RegExp
}

function check(disconnect: Disconnect, expected: Expected) {
  const decision = classifyDisconnect(disconnect)
  expect(decision.action).toBe(expected.action)
  expect(decision.error).toBeInstanceOf(HoldfastError)
  expect(decision.error.code).toBe(expected.code)
  if ('hintMs' in expected) expect(decision.hintMs).toBe(expected.hintMs)
  if ('unreachable' in expected) expect(!!decision.unreachable).toBe(expected.unreachable)
  if (expected.message) expect(decision.error.message).toMatch(expected.message)
}

describe('WebSocket: close codes and handshake failures', () => {
  const rows: Array<[string, Disconnect, Expected]> = [
    [
      '1000 after open',
      { opened: true, code: 1000, reason: '' },
      { action: 'retry', code: 'disconnected', unreachable: false },
    ],
    ['1006 after open', { opened: true, code: 1006, reason: '' }, { action: 'retry', code: 'disconnected' }],
    [
      'could not connect (the browser says nothing)',
      { opened: false, error: new HoldfastError('disconnected', 'websocket could not connect') },
      { action: 'retry', code: 'disconnected', unreachable: true },
    ],
    [
      '4000 server restart with a hint',
      { opened: true, code: CloseCode.ServerRestart, reason: formatRetryAfterReason(1500) },
      { action: 'retry', code: 'server_restart', hintMs: 1500 },
    ],
    [
      '4003 rate limited with a slot',
      { opened: false, code: CloseCode.RateLimited, reason: formatRetryAfterReason(250) },
      { action: 'retry', code: 'rate_limited', hintMs: 250 },
    ],
    [
      'a reconnect frame hint wins over the reason',
      { opened: true, code: CloseCode.ServerRestart, reason: formatRetryAfterReason(1), hintMs: 900 },
      { action: 'retry', code: 'server_restart', hintMs: 900 },
    ],
    [
      '4001 slow consumer',
      { opened: true, code: CloseCode.SlowConsumer, reason: '' },
      { action: 'retry', code: 'slow_consumer' },
    ],
    [
      '4002 heartbeat timeout',
      { opened: true, code: CloseCode.HeartbeatTimeout, reason: '' },
      { action: 'retry', code: 'timeout' },
    ],
    [
      '4004 handshake timeout',
      { opened: false, code: CloseCode.HandshakeTimeout, reason: '' },
      { action: 'retry', code: 'timeout' },
    ],
    [
      '4100 token expired',
      { opened: true, code: CloseCode.TokenExpired, reason: 'expired' },
      { action: 'refresh', code: 'token_expired' },
    ],
    [
      '4101 token rejected, with the server reason kept',
      { opened: false, code: CloseCode.Unauthorized, reason: 'bad signature' },
      { action: 'refresh', code: 'unauthorized', message: /bad signature.*|close 4101/ },
    ],
    [
      '4400 protocol error',
      { opened: true, code: CloseCode.ProtocolError, reason: 'x' },
      { action: 'stop', code: 'bad_frame' },
    ],
    [
      '4403 forbidden',
      { opened: false, code: CloseCode.Forbidden, reason: 'banned' },
      { action: 'stop', code: 'forbidden', message: /banned/ },
    ],
    [
      'handshake answered 426 (a proxy dropped Upgrade)',
      {
        opened: false,
        error: new HoldfastError(
          'transport_unavailable',
          'the WebSocket handshake was answered 426: a proxy dropped the Upgrade header',
        ),
      },
      { action: 'unusable', code: 'transport_unavailable', message: /Upgrade/ },
    ],
    [
      'no WebSocket implementation',
      { opened: false, error: new HoldfastError('transport_unavailable', 'no WebSocket implementation') },
      { action: 'unusable', code: 'transport_unavailable' },
    ],
    [
      // Counted like a refused token (the machine backs off before the second try, then stops).
      'getToken failed',
      { opened: false, error: new HoldfastError('unauthorized', 'getToken() failed') },
      { action: 'refresh', code: 'unauthorized' },
    ],
    [
      'getToken gave no string',
      { opened: false, error: new HoldfastError('bad_request', 'getToken() must resolve to a string') },
      { action: 'refresh', code: 'bad_request' },
    ],
    [
      'getToken did not settle',
      { opened: false, error: new HoldfastError('timeout', 'getToken() did not settle within 10000 ms') },
      { action: 'retry', code: 'timeout' },
    ],
    [
      'getToken said forbidden',
      { opened: false, error: new HoldfastError('forbidden', 'signed out') },
      { action: 'stop', code: 'forbidden' },
    ],
  ]
  test.each(rows)('%s', (_name, disconnect, expected) => check(disconnect, expected))
  test('every close code keeps itself and the reason as the cause', () => {
    const { error } = classifyDisconnect({ opened: true, code: 4403, reason: 'banned' })
    expect(error.cause).toEqual({ closeCode: 4403, reason: 'banned' })
  })
})

describe('SSE and createEventStream: how a stream ended (readEventStream against real responses)', () => {
  const holdfast = (code: string) => ({ error: { code, message: `server says ${code}` } })
  const sse = (body: string) => new HttpResponse(body, { headers: { 'content-type': 'text/event-stream' } })
  const server = setupServer(
    http.get('http://sse.test/status/:status', ({ params, request }) => {
      const status = Number(params.status)
      const kind = new URL(request.url).searchParams.get('kind')
      const headers: Record<string, string> = status === 429 || status === 503 ? { 'retry-after': '3' } : {}
      if (kind === 'holdfast')
        return HttpResponse.json(
          holdfast(
            status === 401
              ? 'unauthorized'
              : status === 403
                ? 'forbidden'
                : status === 429
                  ? 'rate_limited'
                  : status === 503
                    ? 'server_restart'
                    : 'internal',
          ),
          { status, headers },
        )
      return new HttpResponse(`<html>${'x'.repeat(5000)}</html>`, {
        status,
        headers: { ...headers, 'content-type': 'text/html' },
      })
    }),
    http.get(
      'http://sse.test/html',
      () => new HttpResponse('<html></html>', { headers: { 'content-type': 'text/html' } }),
    ),
    http.get('http://sse.test/ended', () => sse('retry: 7000\n\ndata: 1\n\n')),
    http.get('http://sse.test/huge', () => sse(`data: ${'x'.repeat(5000)}`)),
    http.get(
      'http://sse.test/silent',
      () => new HttpResponse(new ReadableStream(), { headers: { 'content-type': 'text/event-stream' } }),
    ),
    http.get('http://sse.test/down', () => HttpResponse.error()),
  )
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  afterAll(() => server.close())
  async function read(path: string): Promise<Disconnect> {
    let retry: number | undefined
    const ended = await readEventStream({
      fetch: (input, init) => fetch(input, init),
      url: `http://sse.test${path}`,
      headers: {},
      signal: new AbortController().signal,
      idleTimeoutMs: 50,
      maxBufferBytes: 1000,
      timers: globalTimers,
      now: Date.now,
      onOpen: () => {},
      onEvent: () => {},
      onRetry: (ms) => {
        retry = ms
      },
    })
    // As the SSE transport and createEventStream do: the retry: field is the hint when nothing else gave one.
    return { ...ended!, hintMs: ended!.hintMs ?? retry }
  }
  const rows: Array<[string, Expected]> = [
    ['/status/401?kind=holdfast', { action: 'refresh', code: 'unauthorized' }],
    ['/status/403?kind=holdfast', { action: 'stop', code: 'forbidden', message: /server says forbidden/ }],
    [
      '/status/403',
      { action: 'unusable', code: 'forbidden', message: /without a Holdfast error body: a proxy refused it/ },
    ],
    ['/status/404', { action: 'unusable', code: 'transport_unavailable', message: /wrong URL/ }],
    ['/status/405', { action: 'unusable', code: 'transport_unavailable' }],
    ['/status/429?kind=holdfast', { action: 'retry', code: 'rate_limited', hintMs: 3000 }],
    [
      '/status/503?kind=holdfast',
      { action: 'retry', code: 'server_restart', hintMs: 3000, unreachable: false },
    ],
    ['/status/503', { action: 'retry', code: 'disconnected', unreachable: true }],
    [
      '/status/504',
      {
        action: 'retry',
        code: 'disconnected',
        message: /^\[holdfast\] HTTP 504 without a Holdfast error body.{0,300}$/,
      },
    ],
    ['/status/500?kind=holdfast', { action: 'retry', code: 'internal' }],
    ['/html', { action: 'unusable', code: 'transport_unavailable', message: /text\/html/ }],
    ['/silent', { action: 'retry', code: 'timeout', message: /silent for 50 ms/ }],
    ['/ended', { action: 'retry', code: 'disconnected', hintMs: 7000, unreachable: false }],
    ['/down', { action: 'retry', code: 'disconnected', unreachable: true }],
    ['/huge', { action: 'retry', code: 'bad_frame' }],
  ]
  test.each(rows)('%s', async (path, expected) => check(await read(path), expected))
})

describe('long polling and POST /publish: HTTP answers', () => {
  const server = setupServer(
    http.get('http://hf.test/status/:status', ({ params, request }) => {
      const status = Number(params.status)
      const kind = new URL(request.url).searchParams.get('kind')
      const headers: Record<string, string> = {}
      if (status === 429 || status === 503) headers['retry-after'] = '2'
      return kind === 'holdfast'
        ? HttpResponse.json({ error: { code: 'forbidden', message: 'not for you' } }, { status, headers })
        : new HttpResponse('<html><body>proxy page</body></html>', {
            status,
            headers: { ...headers, 'content-type': 'text/html' },
          })
    }),
    http.get('http://hf.test/down', () => HttpResponse.error()),
  )
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
  afterAll(() => server.close())
  const host = { fetch: () => fetch, now: () => Date.now() } as unknown as TransportHost
  const answer = async (path: string) => {
    const result = await request(host, `http://hf.test${path}`, {})
    if (typeof result === 'string') throw new Error('expected a failure')
    return result
  }
  const rows: Array<[string, Expected]> = [
    ['/status/401', { action: 'refresh', code: 'unauthorized' }],
    ['/status/403?kind=holdfast', { action: 'stop', code: 'forbidden', message: /not for you/ }],
    ['/status/403', { action: 'unusable', code: 'forbidden' }],
    ['/status/404', { action: 'unusable', code: 'transport_unavailable' }],
    ['/status/426', { action: 'unusable', code: 'transport_unavailable', message: /Upgrade/ }],
    ['/status/429', { action: 'retry', code: 'rate_limited', hintMs: 2000 }],
    ['/status/502', { action: 'retry', code: 'disconnected', unreachable: true }],
    ['/status/503', { action: 'retry', code: 'disconnected', hintMs: 2000, unreachable: true }],
    [
      '/status/504',
      { action: 'retry', code: 'disconnected', message: /read timeout must exceed the long-poll hold/ },
    ],
    ['/down', { action: 'retry', code: 'disconnected', unreachable: true }],
  ]
  test.each(rows)('%s', async (path, expected) => check(await answer(path), expected))
  test('the error keeps the status and which hop answered', async () => {
    expect(classifyDisconnect(await answer('/status/504')).error.cause).toEqual({ status: 504, hop: 'proxy' })
    expect(classifyDisconnect(await answer('/status/403?kind=holdfast')).error.cause).toEqual({
      status: 403,
      hop: 'server',
    })
  })
})
