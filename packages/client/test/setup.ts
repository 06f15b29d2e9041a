// Node 20 has no global WebSocket or EventSource; msw's ws and sse APIs need them to exist.
import { EventEmitter } from 'node:events'
import { EventSource } from 'eventsource'
import WebSocket from 'ws'

const g = globalThis as Record<string, unknown>
if (!('EventSource' in g)) g.EventSource = EventSource
if (!('WebSocket' in g)) g.WebSocket = WebSocket

// msw keeps one module-level BroadcastChannel ('msw:websocket-client-manager', msw/lib/core/ws.mjs) and
// adds a 'message' listener to it for every ws.link() it is given, never removed, plus one per open
// socket. test/helpers/fakeServer.ts makes a new ws.link per test, so test/unit/websocketClient.test.ts
// passes Node's default of 10 listeners and Node prints a MaxListenersExceededWarning: listeners that
// outlive their test, not a leak in the client. The channel takes its limit from the default when msw
// creates it, so load msw here under a higher one. (Creating the link once per file would remove the cause.)
const defaultMaxListeners = EventEmitter.defaultMaxListeners
EventEmitter.defaultMaxListeners = 200
await import('msw')
EventEmitter.defaultMaxListeners = defaultMaxListeners
