// Node 20 has no global WebSocket or EventSource; msw's ws interceptor patches the global
// WebSocket, so one must exist before `server.listen()`.
import { EventSource } from 'eventsource'
import { vi } from 'vitest'
import WebSocket from 'ws'

const g = globalThis as Record<string, unknown>
if (!('EventSource' in g)) g.EventSource = EventSource
if (!('WebSocket' in g)) g.WebSocket = WebSocket

// vi.waitFor gives up after 1 s by default: a wall-clock budget that a busy machine can miss while the
// client is only reconnecting through its backoff. The README example (readme.example.test.ts) must stay
// verbatim, so the default is raised here for every test: the limit only ends a hung test.

const waitFor = vi.waitFor
vi.waitFor = ((callback: Parameters<typeof waitFor>[0], options?: Parameters<typeof waitFor>[1]) =>
  waitFor(
    callback,
    typeof options === 'number' ? options : { timeout: 20_000, interval: 5, ...options },
  )) as typeof waitFor
