// The example of README.md, verbatim except for this comment: if it breaks, the README is wrong.
import { createClient } from '@holdfast/client'
import { createHoldfastMock } from '@holdfast/testing'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest'

const mock = createHoldfastMock({ url: 'http://rt.test' })
const server = setupServer(...mock.handlers)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => mock.reset())
afterAll(() => server.close())

/** Waits until the mock serves `channel` to a connected client. */
const subscribed = (channel: string) =>
  vi.waitFor(() => expect(mock.connections.some((c) => c.open && c.channels.includes(channel))).toBe(true))

test('shows messages, and survives a dropped connection without losing one', async () => {
  // Create clients after server.listen(): that is when msw replaces globalThis.WebSocket.
  const client = createClient({ url: 'http://rt.test', transports: ['websocket'] })
  const seen: string[] = []
  client.subscribe<{ text: string }>('chat.room.1', (msg) => seen.push(msg.data.text))
  await subscribed('chat.room.1')

  mock.publish('chat.room.1', { text: 'hello' })
  await vi.waitFor(() => expect(seen).toEqual(['hello']))

  mock.dropConnections()
  mock.publish('chat.room.1', { text: 'while you were away' })
  await vi.waitFor(() => expect(seen).toEqual(['hello', 'while you were away']))

  await client.publish('chat.room.1', { text: 'hi back' })
  expect(mock.published.map((p) => p.data)).toEqual([{ text: 'hi back' }])
  client.close()
})

test('falls back to SSE when WebSocket is blocked', async () => {
  mock.refuse('websocket')
  const client = createClient({ url: 'http://rt.test', transports: ['websocket', 'sse'] })
  client.subscribe('news', () => {})
  await vi.waitFor(() => expect(client.state).toMatchObject({ status: 'connected', transport: 'sse' }))
  client.close()
})
