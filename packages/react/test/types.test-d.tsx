// Type-level tests: `tsc --noEmit` (npm run typecheck, a step of npm test) fails on any error here.
import type { ConnectionState, HoldfastError, Message, PublishResult } from '@holdfast/client'
import { coalesce } from '@holdfast/client/delivery'
import { describe, expectTypeOf, test } from 'vitest'
import {
  type HoldfastProviderProps,
  type PublishFunction,
  type SubscriptionResult,
  useConnectionState,
  useHoldfastClient,
  usePublish,
  useSubscription,
} from '../src'

interface Chat {
  user: string
  text: string
}

describe('useSubscription<TData>', () => {
  test('types data, messages, lastMessage and onMessage with TData', () => {
    const result = useSubscription<Chat>('chat', {
      keep: 10,
      onMessage: (message) => {
        expectTypeOf(message).toEqualTypeOf<Message<Chat>>()
        expectTypeOf(message.data.text).toBeString()
      },
    })
    expectTypeOf(result).toEqualTypeOf<SubscriptionResult<Chat>>()
    expectTypeOf(result.data).toEqualTypeOf<Chat | undefined>()
    expectTypeOf(result.messages).toEqualTypeOf<readonly Message<Chat>[]>()
    expectTypeOf(result.lastMessage).toEqualTypeOf<Message<Chat> | undefined>()
    expectTypeOf(result.connection).toEqualTypeOf<ConnectionState>()
  })

  test('defaults TData to unknown', () => {
    expectTypeOf(useSubscription('chat').data).toEqualTypeOf<unknown>()
  })

  test('status narrows error: a HoldfastError exactly when status is error', () => {
    const result = useSubscription<Chat>('chat')
    if (result.status === 'error') expectTypeOf(result.error).toEqualTypeOf<HoldfastError>()
    else expectTypeOf(result.error).toEqualTypeOf<undefined>()
    expectTypeOf(result.status).toEqualTypeOf<'idle' | 'subscribing' | 'live' | 'error'>()
  })

  test('rejects options of the wrong type', () => {
    // @ts-expect-error keep is a number
    useSubscription<Chat>('chat', { keep: '10' })
    // @ts-expect-error onMessage gets a Message<Chat>, not a Message<number>
    useSubscription<Chat>('chat', { onMessage: (m: Message<number>) => m })
    // @ts-expect-error delivery takes a client DeliveryPolicy
    useSubscription<Chat>('chat', { delivery: { policy: 'fastest' } })
    // coalesce's key gets the channel's message type
    useSubscription<Chat>('chat', { delivery: coalesce((m) => m.data.text) })
    // @ts-expect-error a key that reads a field the message type does not have
    useSubscription<Chat>('chat', { delivery: coalesce<Chat>((m) => m.data.nope) })
    useSubscription<Chat>('chat', { throwOnError: (error) => error.code === 'forbidden' })
  })
})

test('usePublish<TData> checks the data it publishes', () => {
  const publish = usePublish<Chat>()
  expectTypeOf(publish).toEqualTypeOf<PublishFunction<Chat>>()
  expectTypeOf(publish('chat', { user: 'a', text: 'b' })).toEqualTypeOf<Promise<PublishResult>>()
  // @ts-expect-error text is missing
  void publish('chat', { user: 'a' })
  expectTypeOf(usePublish()).parameter(1).toBeUnknown()
})

test('useConnectionState and useHoldfastClient', () => {
  expectTypeOf(useConnectionState()).toEqualTypeOf<ConnectionState>()
  expectTypeOf(useHoldfastClient().publish).toBeFunction()
  expectTypeOf<HoldfastProviderProps>().toHaveProperty('client')
})
