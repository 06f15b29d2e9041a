import { type ClientOptions, HoldfastClient } from './core/HoldfastClient'
import { longPollTransport } from './transports/longPollTransport'
import { sseTransport } from './transports/sseTransport'
import { websocketTransport } from './transports/websocketTransport'

/**
 * Creates a Holdfast client: one `subscribe` API over WebSocket, SSE and long polling, with automatic
 * fallback and lossless resume. Throws `bad_request` for invalid options.
 *
 * @example
 * ```ts
 * const client = createClient({ url: 'https://rt.example.com', getToken: () => auth.token() })
 * const sub = client.subscribe('chat.room.42', (msg) => render(msg.data))
 * await client.publish('chat.room.42', { text: 'hi' })
 * ```
 */
export function createClient(options: ClientOptions): HoldfastClient {
  return new HoldfastClient(options, {
    websocket: websocketTransport(options),
    sse: sseTransport(options),
    longpoll: longPollTransport(options),
  })
}
