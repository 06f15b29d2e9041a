import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient } from '../../src'
import { presence } from '../../src/presence'
import { BASE_URL } from '../helpers/fakeServer'
import { sseEndpoint } from '../helpers/sseMock'

// Presence over SSE, where the server cannot tell a vanished client from a quiet one: the member touches
// its enter channel every touchIntervalMs while connected, and says when it leaves (PROTOCOL.md §8).

const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)
let server: ReturnType<typeof setupServer> | undefined
let clients: HoldfastClient[] = []
const published: Array<{ channel: string; data: unknown }> = []

beforeEach(() => {
  vi.useFakeTimers()
  published.length = 0
  const sse = sseEndpoint(`${BASE_URL}/sse`, undefined, { autoSubscribe: true })
  server = setupServer(
    sse.handler,
    http.post(`${BASE_URL}/publish`, async ({ request }) => {
      published.push((await request.json()) as { channel: string; data: unknown })
      return HttpResponse.json({ cursor: 'presence:0', duplicate: false })
    }),
    http.get(`${BASE_URL}/health`, () => HttpResponse.json({ status: 'ok' })),
  )
  server.listen({ onUnhandledRequest: 'error' })
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  server?.close()
  vi.useRealTimers()
})

test('over SSE an entered member touches every touchIntervalMs, and publishes its leave', async () => {
  const c = createClient({ url: BASE_URL, transports: ['sse'], onOnline: false, lazy: false })
  clients.push(c)
  const room = presence(c, 'room', { enter: true, touchIntervalMs: 1000 })
  await tick(50)
  expect(c.state).toMatchObject({ status: 'connected', transport: 'sse' })
  await tick(3000)
  const touches = published.filter((p) => JSON.stringify(p.data) === '{"touch":true}')
  expect(touches.length).toBeGreaterThanOrEqual(2)
  expect(new Set(touches.map((t) => t.channel)).size).toBe(1)
  expect(touches[0]!.channel).toMatch(/^room~presence~[\w-]{16}$/)
  room.leave()
  await tick(50)
  expect(published.at(-1)).toEqual({ channel: touches[0]!.channel, data: { leave: true } })
  const count = published.length
  await tick(5000)
  expect(published).toHaveLength(count)
})
