import type { PublishOptions, PublishResult } from '@holdfast/client'
import { useCallback } from 'react'
import { useHoldfastClient } from './HoldfastProvider'

/** Publishes `data` to `channel`; resolves with the stored cursor, rejects with a `HoldfastError`. */
export type PublishFunction<TData = unknown> = (
  channel: string,
  data: TData,
  options?: PublishOptions,
) => Promise<PublishResult>

/**
 * A function that publishes through the provider's client, stable for as long as the client is
 * the same (safe in effect dependencies). It keeps no pending or error state: each call's promise
 * is its state, several can be in flight, and the component does not re-render for them. While the
 * client is disconnected publishes wait in its bounded queue.
 *
 * @example
 * ```tsx
 * const publish = usePublish<ChatMessage>()
 * await publish('chat.room.42', { text })
 * ```
 */
export function usePublish<TData = unknown>(): PublishFunction<TData> {
  const client = useHoldfastClient()
  return useCallback<PublishFunction<TData>>(
    (channel, data, options) => client.publish(channel, data, options),
    [client],
  )
}
