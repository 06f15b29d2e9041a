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
  const after: string[] = []
  const off = client.onStateChange((state) => {
    if (state.status === 'reconnecting') after.push(state.error?.message ?? '')
  })
  proxy.blackhole(true)
  for (let i = 11; i <= 20; i++) await server.publish('feed', i)
  await until(
    () => client!.state.status !== 'connected',
    intervalMs + timeoutMs + 2000,
    'the dead link to be noticed',
  )
  // The heartbeat noticed it (how soon is pinned on fake time in HoldfastClient.test.ts "heartbeat": a bound
  // in wall-clock time here would measure how busy the machine is).
  await until(() => after.length > 0, 5000, 'reconnecting')
  off()
  expect(after[0]).toMatch(/no answer to a ping within 400 ms/)

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
