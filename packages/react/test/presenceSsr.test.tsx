// @vitest-environment node
// usePresence in a real server render: no DOM, nothing connects, nothing is subscribed, idle markup.
import { createClient } from '@holdfast/client'
import { StrictMode } from 'react'
import { renderToString } from 'react-dom/server'
import { expect, test, vi } from 'vitest'
import { HoldfastProvider } from '../src'
import { usePresence } from '../src/presence'
import { createFakeServer } from './fakeServer'

function Who() {
  const p = usePresence('room', { enter: true, info: { name: 'A' } })
  return <p>{`${p.status}|${p.members.length}|${p.count}|${String(p.me)}|${p.connection.status}`}</p>
}

test('renderToString of usePresence opens nothing, subscribes nothing and publishes nothing', async () => {
  const server = createFakeServer()
  const fetch = vi.fn()
  const client = createClient({ url: 'http://rt.test', lazy: true, WebSocket: server.WebSocket, fetch })
  const subscribe = vi.spyOn(client, 'subscribe')
  const publish = vi.spyOn(client, 'publish')
  const html = renderToString(
    <StrictMode>
      <HoldfastProvider client={client}>
        <Who />
      </HoldfastProvider>
    </StrictMode>,
  )
  await new Promise((resolve) => setImmediate(resolve))
  expect(html).toBe('<p>idle|0|0|undefined|closed</p>')
  expect(server.constructed).toBe(0)
  expect(fetch).not.toHaveBeenCalled()
  expect(subscribe).not.toHaveBeenCalled()
  expect(publish).not.toHaveBeenCalled()
})
