import { type ClientOptions, HoldfastClient } from './core/HoldfastClient'
import { websocketTransport } from './transports/websocketTransport'

export * from './index.shared'

/**
 * `createClient` with the WebSocket transport only, for apps that never need SSE or long polling and want
 * the smallest bundle. Same API as the main entry.
 */
export function createClient(options: ClientOptions): HoldfastClient {
  return new HoldfastClient(options, { websocket: websocketTransport(options) })
}
