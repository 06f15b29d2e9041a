// Node 20 has no global WebSocket or EventSource; msw's ws and sse APIs need them to exist.
import { EventSource } from 'eventsource'
import WebSocket from 'ws'

const g = globalThis as Record<string, unknown>
if (!('EventSource' in g)) g.EventSource = EventSource
if (!('WebSocket' in g)) g.WebSocket = WebSocket
