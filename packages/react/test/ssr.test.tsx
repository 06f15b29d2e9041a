// @vitest-environment node
// A real server render: no DOM, no window. Nothing may connect.
import { createClient } from '@holdfast/client'
import { StrictMode } from 'react'
import { renderToString } from 'react-dom/server'
import { expect, test, vi } from 'vitest'
import { HoldfastProvider, useConnectionState, usePublish, useSubscription } from '../src'
import { createFakeServer } from './fakeServer'

function App() {
  const room = useSubscription<string>('room', { keep: 10 })
  const state = useConnectionState()
  usePublish()
  return <p>{`${room.status}|${room.messages.length}|${String(room.data)}|${state.status}`}</p>
}

test('renderToString opens no WebSocket, calls no fetch and subscribes nothing; the markup is the idle state', async () => {
  expect(typeof window).toBe('undefined')
  const server = createFakeServer()
  const fetch = vi.fn()
  const client = createClient({ url: 'http://rt.test', lazy: true, WebSocket: server.WebSocket, fetch })
  const subscribe = vi.spyOn(client, 'subscribe')
  const onStateChange = vi.spyOn(client, 'onStateChange')

  const html = renderToString(
    <StrictMode>
      <HoldfastProvider client={client}>
        <App />
      </HoldfastProvider>
    </StrictMode>,
  )
  // Give anything scheduled during the render a chance to run before looking.
  await new Promise((resolve) => setImmediate(resolve))

  expect(html).toBe('<p>idle|0|undefined|closed</p>')
  expect(server.constructed).toBe(0)
  expect(fetch).not.toHaveBeenCalled()
  expect(subscribe).not.toHaveBeenCalled()
  expect(onStateChange).not.toHaveBeenCalled()
  expect(client.state).toEqual({ status: 'closed', transport: undefined, error: undefined })
})
