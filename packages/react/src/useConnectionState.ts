import type { ConnectionState } from '@holdfast/client'
import { useCallback, useSyncExternalStore } from 'react'
import { useHoldfastClient } from './HoldfastProvider'
import { SERVER_CONNECTION_STATE } from './SubscriptionObserver'

const getServerConnectionState = () => SERVER_CONNECTION_STATE

/**
 * The connection state of the provider's client, re-rendering on every change. Switch on `status`:
 * `connecting`, `connected`, `reconnecting` (with `attempt`, `nextRetryAt`, `error`) or `closed`.
 * On the server and during hydration it is `{ status: 'closed', transport: undefined, error: undefined }`.
 */
export function useConnectionState(): ConnectionState {
  const client = useHoldfastClient()
  const subscribe = useCallback((onChange: () => void) => client.onStateChange(onChange), [client])
  const getSnapshot = useCallback(() => client.state, [client])
  return useSyncExternalStore(subscribe, getSnapshot, getServerConnectionState)
}
