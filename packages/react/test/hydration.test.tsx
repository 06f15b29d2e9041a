import { createClient, type HoldfastClient } from '@holdfast/client'
import { act } from '@testing-library/react'
import { StrictMode } from 'react'
import { hydrateRoot, type Root } from 'react-dom/client'
import { renderToString } from 'react-dom/server'
import { afterEach, expect, test, vi } from 'vitest'
import { HoldfastProvider, useConnectionState, useSubscription } from '../src'
import { createFakeServer, fakeClient } from './fakeServer'

let root: Root | undefined
const clients: HoldfastClient[] = []
afterEach(() => {
  act(() => root?.unmount())
  root = undefined
  for (const c of clients.splice(0)) c.close()
  document.body.innerHTML = ''
})

function App({ client }: { client: HoldfastClient }) {
  return (
    <StrictMode>
      <HoldfastProvider client={client}>
        <Room />
      </HoldfastProvider>
    </StrictMode>
  )
}

function Room() {
  const room = useSubscription<string>('room')
  const state = useConnectionState()
  return (
    <p id="room">
      {room.status}|{String(room.data)}|{state.status}
    </p>
  )
}

test('hydrating server markup while the browser client is already connecting: no mismatch, then live', async () => {
  const serverClient = createClient({
    url: 'http://rt.test',
    lazy: true,
    WebSocket: createFakeServer().WebSocket,
  })
  const container = document.createElement('div')
  container.innerHTML = renderToString(<App client={serverClient} />)
  document.body.appendChild(container)
  expect(container.textContent).toBe('idle|undefined|closed')

  const fake = createFakeServer()
  // Not lazy: by hydration time its state is already `connecting`, unlike the server's.
  const client = fakeClient(fake)
  clients.push(client)
  expect(client.state.status).not.toBe('closed')
  const onRecoverableError = vi.fn()
  const consoleError = vi.spyOn(console, 'error')

  await act(async () => {
    root = hydrateRoot(container, <App client={client} />, { onRecoverableError })
  })
  await vi.waitFor(() => expect(container.textContent).toBe('live|undefined|connected'), {
    timeout: 20_000,
    interval: 5,
  })
  await vi.waitFor(() => expect(fake.sent('subscribe', 'room')).toHaveLength(1), {
    timeout: 20_000,
    interval: 5,
  })
  act(() => {
    fake.publish('room', 'hello')
  })
  await vi.waitFor(() => expect(container.textContent).toBe('live|hello|connected'), {
    timeout: 20_000,
    interval: 5,
  })

  expect(onRecoverableError).not.toHaveBeenCalled()
  expect(consoleError).not.toHaveBeenCalled()
  consoleError.mockRestore()
})
