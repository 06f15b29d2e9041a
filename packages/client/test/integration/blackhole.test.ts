import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterEach, expect, test } from 'vitest'
import type { HoldfastClient } from '../../src'
import { type ChaosProxy, createChaosProxy } from '../helpers/chaosProxy'
import { collectNumbers, range, until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'

let server: HoldfastServer | undefined
let proxy: ChaosProxy | undefined
const clients = nodeClients()
let client: HoldfastClient | undefined

afterEach(async () => {
  clients.closeAll()
  await proxy?.close()
  await server?.close()
})

test('a black-holed (half-open) link is detected by the heartbeat within intervalMs + timeoutMs, then resumed without loss', async () => {
  server = createServer({})
  await server.listen(0)
  proxy = await createChaosProxy({ port: server.port! })
  const intervalMs = 400
  const timeoutMs = 400
  const { cursor } = await server.publish('feed', 0)
  client = clients.create({
    url: proxy.url,
    transports: ['websocket'],
    heartbeat: { intervalMs, timeoutMs },
    backoff: { initialMs: 50, maxMs: 200 },
  })
  const got = collectNumbers(client, 'feed', cursor)
  await until(() => client!.state.status === 'connected', 5000, 'connected')
  for (let i = 1; i <= 10; i++) await server.publish('feed', i)
  await until(() => got.received.length === 10, 5000, 'the first ten')

  // Nothing flows either way any more, but no FIN or RST arrives: only the heartbeat can tell.
  proxy.blackhole(true)
  const cutAt = Date.now()
  for (let i = 11; i <= 20; i++) await server.publish('feed', i)
  await until(
    () => client!.state.status !== 'connected',
    intervalMs + timeoutMs + 2000,
    'the dead link to be noticed',
  )
  const detectedAfter = Date.now() - cutAt
  // Silence starts at the last frame, at most one interval before the cut; a little slack for the event loop.
  expect(detectedAfter).toBeLessThanOrEqual(intervalMs + timeoutMs + 250)

  proxy.blackhole(false)
  await until(() => client!.state.status === 'connected', 5000, 'reconnected')
  for (let i = 21; i <= 30; i++) await server.publish('feed', i)
  await until(
    () => got.received.length >= 30,
    5000,
    'everything, including what was sent into the black hole',
  )
  expect(got.received).toEqual(range(30))
}, 20_000)
