// What the hook tests share: a client on the fake server, StrictMode around the tree, and a component
// that prints a subscription's result.
import type { HoldfastClient, Message } from '@holdfast/client'
import { screen } from '@testing-library/react'
import { type ReactNode, StrictMode } from 'react'
import { afterEach, expect, vi } from 'vitest'
import {
  HoldfastProvider,
  type SubscriptionResult,
  type UseSubscriptionOptions,
  useSubscription,
} from '../src'
import { createFakeServer, type FakeServerOptions, fakeClient } from './fakeServer'

const clients: HoldfastClient[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})

/** Closes `client` after the test. */
export function closeAfterTest(client: HoldfastClient): HoldfastClient {
  clients.push(client)
  return client
}

/** A fake server, a client on it (closed after the test), and `wrap` to render inside its provider. */
export function setup(
  options: FakeServerOptions = {},
  clientOptions: Partial<Parameters<typeof fakeClient>[1]> = {},
  strict = true,
) {
  const server = createFakeServer(options)
  const client = closeAfterTest(fakeClient(server, clientOptions))
  const wrap = (ui: ReactNode) => {
    const tree = <HoldfastProvider client={client}>{ui}</HoldfastProvider>
    return strict ? <StrictMode>{tree}</StrictMode> : tree
  }
  return { server, client, wrap }
}

/** Renders a subscription's result as text and hands every result to `seen`. */
export function Show<T>(props: {
  channel: string
  id?: string
  options?: UseSubscriptionOptions<T>
  seen?: (r: SubscriptionResult<T>) => void
}) {
  const result = useSubscription<T>(props.channel, props.options)
  props.seen?.(result)
  return (
    <p data-testid={props.id ?? props.channel}>
      {result.status}:{JSON.stringify(result.data ?? null)}
      {result.error ? `:${result.error.code}` : ''}
    </p>
  )
}

export const text = (id: string) => screen.getByTestId(id).textContent
// Generous: a loaded CI machine may take seconds to render; a wait that succeeds returns at once.
export const until = (fn: () => void) => vi.waitFor(fn, { timeout: 20_000, interval: 5 })
export const waitText = (id: string, expected: string) => until(() => expect(text(id)).toBe(expected))

/** The cursors of `messages`, in order. */
export const cursors = (messages: readonly Message[] | undefined) => messages?.map((m) => m.cursor) ?? []

/** Keeps the last result a `Show` rendered: pass `record` as its `seen`. */
export function recorder() {
  const seen = { last: undefined as SubscriptionResult<number> | undefined }
  return { seen, record: (r: SubscriptionResult<number>) => (seen.last = r) }
}
