import { useEffect, useState, useSyncExternalStore } from 'react'
import { useHoldfastClient } from './HoldfastProvider'
import {
  PresenceObserver,
  type PresenceObserverOptions,
  type PresenceResult,
  SERVER_PRESENCE,
  type UsePresenceOptions,
} from './PresenceObserver'

const getServerPresence = () => SERVER_PRESENCE

/**
 * Who is in `channel`, re-rendering on every join, leave and update: `members` (one entry per client,
 * with its connections), `count`, `clients`, this client's own member `me` when it entered, and the
 * connection. Components of one client and channel share one subscription; `{ enter: true, info }` makes
 * this client a member while the component is mounted. Subscribing happens only in effects, so server
 * rendering opens nothing and renders `status: 'idle'`; StrictMode's double mount keeps one subscription
 * and one member.
 *
 * @example
 * ```tsx
 * const { members } = usePresence<{ name: string }>('chat.room.42', { enter: true, info: { name } })
 * return <ul>{members.map((m) => <li key={m.clientId}>{m.info?.name}</li>)}</ul>
 * ```
 */
export function usePresence<TInfo = unknown>(
  channel: string,
  options: UsePresenceOptions<TInfo> = {},
): PresenceResult<TInfo> {
  const client = useHoldfastClient()
  const next: PresenceObserverOptions<TInfo> = { ...options, client, channel }
  const [observer] = useState(() => new PresenceObserver<TInfo>(next))
  const snapshot = useSyncExternalStore(observer.subscribe, observer.getSnapshot, getServerPresence)
  useEffect(() => {
    observer.setOptions(next)
  })
  // Until the effect hands another client or channel to the observer, show nothing of the previous one.
  return observer.matches(client, channel) ? snapshot : (SERVER_PRESENCE as PresenceResult<TInfo>)
}
