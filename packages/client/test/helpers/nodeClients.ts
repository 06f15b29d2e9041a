import WebSocket from 'ws'
import { type ClientOptions, createClient, type HoldfastClient } from '../../src'

/**
 * Real clients for integration tests in Node: `ws` injected, no `online` listener, fast backoff
 * (each test passes what it needs on top). `closeAll()` in `afterEach` closes every client made.
 */
export function nodeClients() {
  let made: HoldfastClient[] = []
  return {
    create(options: ClientOptions): HoldfastClient {
      const client = createClient({
        WebSocket: WebSocket as never,
        onOnline: false,
        backoff: { initialMs: 20, maxMs: 300 },
        ...options,
      })
      made.push(client)
      return client
    },
    closeAll(): void {
      for (const client of made) client.close()
      made = []
    },
  }
}
