import { encodeFrame } from '@holdfast/protocol'
import { HttpResponse, http, ws } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, type HoldfastError, type TransportName } from '../../src'
import { BASE_URL } from '../helpers/fakeServer'
import { sseEndpoint } from '../helpers/sseMock'

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
let server: ReturnType<typeof setupServer>
let client: HoldfastClient
let wsMode: 'refuse' | 'hang' | 'accept' = 'refuse'
let wsConnections = 0
let wsFrames: Array<Record<string, unknown>> = []
let sse: ReturnType<typeof sseEndpoint>

beforeEach(() => {
  vi.useFakeTimers()
  wsConnections = 0
  wsFrames = []
  sse = sseEndpoint(`${BASE_URL}/sse`, undefined, { autoSubscribe: true })
  const link = ws.link(`${BASE_URL.replace('http', 'ws')}/ws`)
  server = setupServer(
    sse.handler,
    http.get(`${BASE_URL}/poll`, ({ request }) =>
      new URL(request.url).searchParams.get('since')
        ? new Promise<Response>(() => {})
        : HttpResponse.json({
            since: 'a=e1:0',
            messages: [],
            subscribed: [{ channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true }],
          }),
    ),
    http.get(`${BASE_URL}/health`, () => HttpResponse.json({ status: 'ok' })),
    link.addEventListener('connection', ({ client: socket }) => {
      wsConnections++
      if (wsMode === 'refuse') {
        socket.close(1011, 'upgrade refused')
        return
      }
      if (wsMode === 'hang') return // never answers: a proxy that swallows the upgrade
      socket.addEventListener('message', (event) => {
        const frame = JSON.parse(String(event.data)) as { type: string; id: number; channel: string }
        wsFrames.push(frame)
        if (frame.type === 'connect')
          socket.send(encodeFrame({ type: 'welcome', session: 's', maxMessageBytes: 1024 }))
        if (frame.type === 'subscribe')
          socket.send(
            encodeFrame({
              type: 'subscribed',
              id: frame.id,
              channel: frame.channel,
              epoch: 'e1',
              cursor: 'e1:0',
              recovered: true,
            }),
          )
      })
    }),
  )
  server.listen({ onUnhandledRequest: 'error' })
})
afterEach(() => {
  client.close()
  server.close()
  vi.useRealTimers()
})

function start(probeIntervalMs = 0) {
  client = createClient({
    url: BASE_URL,
    onOnline: false,
    heartbeat: false,
    random: () => 0.5,
    fallback: { probeIntervalMs },
  })
  const transports: TransportName[] = []
  client.onStateChange((s) => {
    if (s.status === 'connected') transports.push(s.transport)
  })
  client.subscribe('a', () => {})
  return transports
}

test('a refused WebSocket upgrade moves the client to SSE at once', async () => {
  wsMode = 'refuse'
  const transports = start()
  await tick(50)
  expect(wsConnections).toBe(1)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'sse' })
  expect(transports).toEqual(['sse'])
})

test('a WebSocket that never opens is abandoned within 3 s by default', async () => {
  wsMode = 'hang'
  start()
  await tick(2400)
  expect(client.state.status).not.toBe('connected')
  await tick(600)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'sse' })
})

test('later the client probes WebSocket again and moves back up, resuming from its cursor', async () => {
  wsMode = 'refuse'
  const transports = start(10_000)
  await tick(50)
  expect(client.state).toMatchObject({ transport: 'sse' })
  sse.last.write(
    `event: subscribed\nid: a=e1:0\ndata: ${JSON.stringify({ channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true })}\n\n` +
      `id: a=e1:3\ndata: ${JSON.stringify({ channel: 'a', cursor: 'e1:3', data: 3 })}\n\n`,
  )
  await tick(1)
  wsMode = 'accept'
  await tick(10_000 * 1.0 + 100)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'websocket' })
  expect(transports).toEqual(['sse', 'websocket'])
  expect(wsFrames).toContainEqual(expect.objectContaining({ type: 'subscribe', channel: 'a', since: 'e1:3' }))
})

test('SSE blocked too: long polling', async () => {
  wsMode = 'refuse'
  server.use(http.get(`${BASE_URL}/sse`, () => new HttpResponse('nope', { status: 404 })))
  start()
  const errors: HoldfastError[] = []
  client.on('error', (e) => errors.push(e))
  await tick(50)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  const sse404 = errors.find((e) => e.code === 'transport_unavailable' && /404/.test(e.message))
  expect(sse404?.message).toMatch(/^\[holdfast\] HTTP 404/)
  expect(sse404?.message).not.toMatch(/\[holdfast\].*\[holdfast\]/)
})

test('fallback remembers what failed: after SSE failed behind a buffering proxy, failed probes never send the client back to SSE', async () => {
  wsMode = 'refuse'
  // A proxy that buffers SSE: the response headers arrive, the events never do.
  const buffered = sseEndpoint(`${BASE_URL}/sse`)
  server.use(
    buffered.handler,
    // A server that holds each poll for 20 s, then answers that nothing happened.
    http.get(`${BASE_URL}/poll`, async ({ request }) => {
      const since = new URL(request.url).searchParams.get('since')
      if (since) await new Promise((r) => setTimeout(r, 20_000))
      return HttpResponse.json({
        since: 'a=e1:0',
        messages: [],
        ...(since ? {} : { subscribed: [{ channel: 'a', epoch: 'e1', cursor: 'e1:0', recovered: true }] }),
      })
    }),
  )
  start(5000)
  await tick(50)
  expect(client.state).toMatchObject({ status: 'connecting', transport: 'sse' })
  await tick(3100)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  const statesAfter: string[] = []
  client.onStateChange((s) => statesAfter.push(`${s.status}:${s.transport}`))
  const wsBefore = wsConnections
  const sseBefore = buffered.connections.length
  await tick(10 * 60_000)
  // Probes tried the better transports again (each failing), but the client never left long polling.
  expect(wsConnections).toBeGreaterThan(wsBefore)
  expect(buffered.connections.length).toBeGreaterThan(sseBefore)
  expect(statesAfter).toEqual([])
  expect(client.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
})

test('moving back up is make-before-break: the working transport carries on until the better one is up', async () => {
  wsMode = 'hang'
  start(10_000)
  await tick(3100)
  expect(client.state).toMatchObject({ status: 'connected', transport: 'sse' })
  const states: string[] = []
  client.onStateChange((s) => states.push(`${s.status}:${s.transport}`))
  // The first probe hangs like the first attempt: the client stays on SSE, connected, all along.
  await tick(10_000 + 3100)
  expect(states).toEqual([])
  wsMode = 'accept'
  await tick(20_000 + 100)
  expect(states).toEqual(['connected:websocket'])
})
