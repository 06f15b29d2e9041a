// `@holdfast/client/persist`: delivery that survives a reload, for one tab (no sharing). Paid for only by apps
// that import it. `@holdfast/client/tabs` has it too, as the `persist` option of `createSharedClient`.
import { PersistentClient, type PersistentClientOptions } from './persist/PersistentClient'
import { longPollTransport } from './transports/longPollTransport'
import { sseTransport } from './transports/sseTransport'
import { websocketTransport } from './transports/websocketTransport'

export * from './index.shared'
export {
  type CloseOptions,
  PersistentClient,
  type PersistentClientOptions,
  type RestoredPublish,
} from './persist/PersistentClient'
export type { PersistOptions } from './persist/PersistStore'
export { indexedDbStorage, memoryStorage, type PersistStorage } from './persist/storage'

/**
 * `createClient` whose place in every channel and whose unacknowledged publishes survive a reload (with
 * `persist`): after a reload or a crash, every channel resumes from where the page was, and each publish the
 * server had not acknowledged is sent once more with its idempotency key, so the server stores it once.
 *
 * @example
 * ```ts
 * const client = createPersistentClient({ url: 'https://rt.example.com', getToken, persist: true })
 * ```
 */
export function createPersistentClient(options: PersistentClientOptions): PersistentClient {
  return new PersistentClient(options, {
    websocket: websocketTransport(options),
    sse: sseTransport(options),
    longpoll: longPollTransport(options),
  })
}
