// The suite must fail a server that breaks the protocol, and never count a check it could not run as
// passed. Each test breaks one behaviour of @holdfast/testing's mock with an msw override.
import { createHoldfastMock } from '@holdfast/testing'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest'
import { type ConformanceOptions, runConformance, type WebSocketConstructor } from '../src'

const URL = 'http://broken.test'
const mock = createHoldfastMock({ url: URL, sseHeartbeatMs: 0 })
const server = setupServer(...mock.handlers)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  server.resetHandlers()
  mock.reset()
})
afterAll(() => server.close())

function run(only: string[], extra: Partial<ConformanceOptions> = {}) {
  return runConformance({
    url: URL,
    fetch: (input, init) => globalThis.fetch(input, init),
    WebSocket: globalThis.WebSocket as unknown as WebSocketConstructor,
    only,
    deadlineMs: 2000,
    ...extra,
  })
}

const result = (report: Awaited<ReturnType<typeof run>>, id: string) =>
  report.results.find((r) => r.id === id)

test('the unbroken mock passes the checks the tests below break', async () => {
  const report = await run(['health.ok', 'publish.idempotency-key', 'poll.held', 'sse.message'])
  expect(report.results.map((r) => [r.id, r.status])).toEqual([
    ['health.ok', 'pass'],
    ['sse.message', 'pass'],
    ['poll.held', 'pass'],
    ['publish.idempotency-key', 'pass'],
  ])
  expect(report).toMatchObject({ passed: 4, failed: 0, notRun: 0, ok: true })
})

test('a /health that is not 200 {"status":"ok"} fails, saying what came back', async () => {
  server.use(http.get(`${URL}/health`, () => HttpResponse.json({ status: 'degraded' }, { status: 500 })))
  const report = await run(['health.ok'])
  expect(result(report, 'health.ok')).toMatchObject({
    status: 'fail',
    expected: '200 {"status":"ok"}',
    actual: 'HTTP 500 {"status":"degraded"}',
  })
  expect(report.ok).toBe(false)
})

test('POST /publish that ignores Idempotency-Key fails the idempotency check', async () => {
  server.use(
    http.post(`${URL}/publish`, async ({ request }) => {
      const { channel, data } = (await request.json()) as { channel: string; data: unknown }
      return HttpResponse.json({ cursor: mock.publish(channel, data).cursor, duplicate: false })
    }),
  )
  const report = await run(['publish.idempotency-key'])
  expect(result(report, 'publish.idempotency-key')).toMatchObject({
    status: 'fail',
    expected: expect.stringContaining('"duplicate":true'),
    actual: expect.stringContaining('"duplicate":false'),
  })
})

test('a poll that is answered at once instead of held until a message fails', async () => {
  server.use(
    http.get(`${URL}/poll`, ({ request }) => {
      const since = new globalThis.URL(request.url).searchParams.get('since')
      if (since === null) return undefined
      return HttpResponse.json({ since, messages: [] })
    }),
  )
  const report = await run(['poll.held'])
  expect(result(report, 'poll.held')).toMatchObject({
    status: 'fail',
    expected: expect.stringContaining('the message that woke it'),
    actual: '[]',
  })
})

test('SSE message events without their id: (the cursor map) fail', async () => {
  // Passes the mock's stream through, dropping the id: line that starts each message event.
  const stripIds: typeof fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init)
    if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) return response
    const decoder = new TextDecoder()
    const encoder = new TextEncoder()
    const body = response.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          const text = decoder.decode(chunk, { stream: true })
          controller.enqueue(encoder.encode(text.replace(/(^|\n\n)id: [^\n]*\n(?=data: )/g, '$1')))
        },
      }),
    )
    return new Response(body, { status: response.status, headers: response.headers })
  }
  const report = await run(['sse.message'], { fetch: stripIds })
  expect(result(report, 'sse.message')?.actual).not.toContain('"id"')
  expect(result(report, 'sse.message')).toMatchObject({
    status: 'fail',
    expected: expect.stringContaining('id: the cursor map after the message'),
    // The event as it came: data, and no id.
    actual: expect.stringMatching(/^\{"data":.*"cursor"/),
  })
})

test('a drain hook that drains nothing fails every §7 check, and without one they are not run', async () => {
  const failed = await run(['drain.'], { drain: () => {} })
  expect(failed.results.map((r) => r.status)).toEqual(['fail', 'fail', 'fail', 'fail', 'fail'])
  expect(result(failed, 'drain.health')).toMatchObject({
    expected: '503 {"status":"draining"}',
    actual: 'HTTP 200 {"status":"ok"}',
  })
  const notRun = await run(['drain.'])
  expect(notRun).toMatchObject({ passed: 0, failed: 0, notRun: 5, ok: true })
  expect(notRun.results[0]!.needs).toContain('--drain-command')
})
