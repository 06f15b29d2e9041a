// The hooks on a client whose tabs share one connection (@holdfast/client/tabs): nothing in the bindings
// changes. Two "tabs" (a fake browser's BroadcastChannel and Web Locks), each with its own provider.
import { createSharedClient, type SharedClient } from '@holdfast/client/tabs'
import { act, render, screen } from '@testing-library/react'
import { StrictMode } from 'react'
import { afterEach, expect, test } from 'vitest'
import { createFakeBrowser } from '../../client/test/helpers/fakeTabs'
import { HoldfastProvider, useConnectionState, usePublish, useSubscription } from '../src'
import { createFakeServer } from './fakeServer'
import { until } from './render'

const clients: SharedClient[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
})

function Tab({ id }: { id: string }) {
  const state = useConnectionState()
  const { messages } = useSubscription<string>('room', { keep: 10 })
  const publish = usePublish<string>()
  return (
    <section>
      <p data-testid={`${id}-state`}>
        {state.status}/{state.transport}
      </p>
      <p data-testid={`${id}-messages`}>{messages?.map((m) => m.data).join(',')}</p>
      <button type="button" onClick={() => void publish('room', `from ${id}`)}>
        publish {id}
      </button>
    </section>
  )
}

test('useSubscription, useConnectionState and usePublish work unchanged on a shared client, in leader and follower', async () => {
  const browser = createFakeBrowser()
  const server = createFakeServer()
  const open = (name: string) => {
    const tab = browser.tab(name)
    const client = createSharedClient({
      url: 'http://rt.test',
      transports: ['websocket'],
      WebSocket: server.WebSocket,
      heartbeat: false,
      onOnline: false,
      user: 'ann',
      tabs: { locks: tab.locks, BroadcastChannel: tab.BroadcastChannel },
    })
    clients.push(client)
    return client
  }
  const leader = open('a')
  const follower = open('b')
  render(
    <StrictMode>
      <HoldfastProvider client={leader}>
        <Tab id="a" />
      </HoldfastProvider>
      <HoldfastProvider client={follower}>
        <Tab id="b" />
      </HoldfastProvider>
    </StrictMode>,
  )
  await until(() => expect(screen.getByTestId('b-state').textContent).toBe('connected/websocket'))
  expect([leader.role, follower.role]).toEqual(['leader', 'follower'])
  await until(() => expect(server.sent('subscribe', 'room')).toHaveLength(1))
  act(() => screen.getByText('publish b').click())
  await until(() => expect(screen.getByTestId('a-messages').textContent).toBe('from b'))
  await until(() => expect(screen.getByTestId('b-messages').textContent).toBe('from b'))
  expect(server.constructed).toBe(1)
})
