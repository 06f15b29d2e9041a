// Node 20 has no global WebSocket or EventSource; msw's interceptors patch the global WebSocket, so one
// must exist before `server.listen()` (mock.test.ts). The suite itself uses `ws` unless given another.
import { EventSource } from 'eventsource'
import WebSocket from 'ws'

const g = globalThis as Record<string, unknown>
if (!('EventSource' in g)) g.EventSource = EventSource
if (!('WebSocket' in g)) g.WebSocket = WebSocket
