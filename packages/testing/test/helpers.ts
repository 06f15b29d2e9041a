import { type ClientOptions, createClient, type HoldfastClient, type Message } from '@holdfast/client'
import { vi } from 'vitest'

export const BASE_URL = 'http://rt.test'

/** Real clients for the tests, closed by `closeClients()` after each test. */
const clients: HoldfastClient[] = []

export function client(options: Partial<ClientOptions> = {}): HoldfastClient {
  const c = createClient({
    url: BASE_URL,
    onOnline: false,
    // Fast, still jittered reconnects keep each test well under a second.
    backoff: { initialMs: 10, maxMs: 40 },
    ...options,
  })
  clients.push(c)
  return c
}

export function closeClients(): void {
  for (const c of clients.splice(0)) c.close()
}

/** Collects what a subscription receives. */
export function collect<T = unknown>(c: HoldfastClient, channel: string, onGap?: () => void) {
  const messages: Message<T>[] = []
  const sub = c.subscribe<T>(channel, (m) => messages.push(m), onGap ? { onGap } : {})
  return {
    messages,
    sub,
    get data() {
      return messages.map((m) => m.data)
    },
  }
}

/**
 * `vi.waitFor` with a short interval. Its time limit only ends a hung test: nothing asserts how fast a
 * condition comes true, so a busy machine makes a test slower, never red.
 */
export function until<T>(fn: () => T, timeout = 20_000): Promise<T> {
  return vi.waitFor(fn, { timeout, interval: 5 })
}
