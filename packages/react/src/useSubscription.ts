import type { HoldfastClient } from '@holdfast/client'
import { useEffect, useRef, useState, useSyncExternalStore } from 'react'
import { useHoldfastClient } from './HoldfastProvider'
import {
  checkKeep,
  type ObserverOptions,
  SERVER_RESULT,
  SubscriptionObserver,
  type SubscriptionResult,
  type UseSubscriptionOptions,
} from './SubscriptionObserver'

const getServerResult = () => SERVER_RESULT

/**
 * Subscribes to `channel` while the component is mounted and returns the latest messages with the
 * subscription's status and the connection beside them. Components subscribed to one channel share
 * one network subscription; unmounting the last one unsubscribes. Errors and gaps are state
 * (`status: 'error'`, `error`, `gap`), not exceptions, unless `throwOnError` asks for them.
 * Subscribing happens only in effects, so server rendering opens nothing and renders `status: 'idle'`.
 *
 * @example
 * ```tsx
 * const { status, messages } = useSubscription<ChatMessage>('chat.room.42', { keep: 100 })
 * ```
 */
export function useSubscription<TData = unknown>(
  channel: string,
  options: UseSubscriptionOptions<TData> = {},
): SubscriptionResult<TData> {
  const client = useHoldfastClient()
  checkKeep(options.keep)
  const enabled = options.enabled ?? true
  const next: ObserverOptions<TData> = { ...options, client, channel }
  const [observer] = useState(() => new SubscriptionObserver<TData>(next))
  const snapshot = useSyncExternalStore(observer.subscribe, observer.getSnapshot, getServerResult)
  useEffect(() => {
    observer.setOptions(next)
  })
  // Until the effect above hands new options to the observer, show where they lead: another channel's
  // start (never the previous channel's messages), or these messages with `enabled`'s status.
  const moved = !observer.matches(client, channel)
  const pending = usePendingResult<TData>(client, channel, enabled, moved ? undefined : snapshot)
  const result = moved || observer.enabled !== enabled ? pending : snapshot
  if (result.status === 'error' && shouldThrow(options.throwOnError, result.error)) throw result.error
  return result
}

function usePendingResult<TData>(
  client: HoldfastClient,
  channel: string,
  enabled: boolean,
  kept: SubscriptionResult<TData> | undefined,
): SubscriptionResult<TData> {
  const cache = useRef<{ key: readonly unknown[]; result: SubscriptionResult<TData> }>(undefined)
  const key = [client, channel, enabled, kept] as const
  let entry = cache.current
  if (!entry || entry.key.some((k, i) => k !== key[i])) {
    const connection = client.state
    const status = !enabled || connection.status === 'closed' ? 'idle' : 'subscribing'
    entry = { key, result: { ...(kept ?? SERVER_RESULT), status, error: undefined, connection } }
    cache.current = entry
  }
  return entry.result
}

function shouldThrow(
  throwOnError: UseSubscriptionOptions['throwOnError'],
  error: SubscriptionResult['error'] & object,
): boolean {
  return typeof throwOnError === 'function' ? throwOnError(error) : throwOnError === true
}
