// `@holdfast/client/tabs`: one connection for all tabs of a site, and (with `persist`) delivery that survives a
// reload. Paid for only by apps that import it; the root entry does not change.
import { SharedClient, type SharedClientOptions } from './tabs/SharedClient'

export * from './index.shared'
export type { CloseOptions, PersistentClientOptions, RestoredPublish } from './persist/PersistentClient'
export { PersistentClient } from './persist/PersistentClient'
export type { PersistOptions } from './persist/PersistStore'
export { indexedDbStorage, memoryStorage, type PersistStorage } from './persist/storage'
export {
  SharedClient,
  type SharedClientOptions,
  type SharedClientRole,
  type TabsOptions,
} from './tabs/SharedClient'
export type { BroadcastChannelConstructor, LockManagerLike } from './tabs/TabLink'

/**
 * Creates a client whose tabs share one connection: the tabs of this origin with the same `url` and user elect
 * a leader (Web Locks), which holds the only connection; the others subscribe, unsubscribe and publish through
 * it over BroadcastChannel, with the same API. When the leader closes, crashes or freezes, another tab takes
 * over and every tab resumes from its own cursors: nothing lost, nothing twice. Add `persist` to keep cursors
 * and unacknowledged publishes across a reload. Without Web Locks or BroadcastChannel, each tab keeps its own
 * connection, as `createClient` does.
 *
 * @example
 * ```ts
 * const client = createSharedClient({ url: 'https://rt.example.com', getToken, persist: true })
 * client.subscribe('chat.room.42', (msg) => render(msg.data))
 * ```
 */
export function createSharedClient(options: SharedClientOptions): SharedClient {
  return new SharedClient(options)
}
