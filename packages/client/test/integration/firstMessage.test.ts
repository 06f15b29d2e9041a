// Fault kind: a subscription's starting point is fixed when the app subscribes, and what the app asked for
// reaches the server in the order it asked: a message this client publishes after subscribing reaches it.
import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterEach, describe, expect, test } from 'vitest'
import type { Message, TransportName } from '../../src'
import { until } from '../helpers/collect'
import { createHttpProxy, type HttpProxy } from '../helpers/httpProxy'
import { nodeClients } from '../helpers/nodeClients'

let server: HoldfastServer | undefined
let proxy: HttpProxy | undefined
const clients = nodeClients()

afterEach(async () => {
  clients.closeAll()
  await proxy?.close()
  await server?.close()
  proxy = server = undefined
})

async function start() {
  server = createServer({ poll: { timeoutMs: 2000 }, sse: { heartbeatMs: 1000 } })
  await server.listen(0)
  return server.url!
}

describe.each<TransportName>(['websocket', 'sse', 'longpoll'])('%s', (transport) => {
  test("the README's order on a fresh client: subscribe, then publish; the subscriber gets the message", async () => {
    const url = await start()
    const client = clients.create({ url, transports: [transport] })
    const got: unknown[] = []
    client.subscribe('room', (m: Message) => got.push(m.data))
    const { cursor } = await client.publish('room', 'joined')
    await until(() => got.length > 0, 10_000, 'the first message')
    expect(got).toEqual(['joined'])
    expect(cursor).toMatch(/:1$/)
  })

  test('several subscribes and publishes in one burst: each publish reaches every channel subscribed before it', async () => {
    const url = await start()
    const client = clients.create({ url, transports: [transport] })
    const got: string[] = []
    const acks: Promise<unknown>[] = []
    for (const channel of ['a', 'b', 'c']) {
      client.subscribe(channel, (m: Message) => got.push(`${channel}:${m.data}`))
      acks.push(client.publish(channel, 1), client.publish('a', channel))
    }
    await Promise.all(acks)
    await until(() => got.length >= 6, 10_000, 'six messages')
    expect(got.sort()).toEqual(['a:1', 'a:a', 'a:b', 'a:c', 'b:1', 'c:1'])
  })
})

test('behind a proxy that buffers SSE, the client falls back to long polling from where the stream started: nothing published meanwhile is lost', async () => {
  await start()
  proxy = await createHttpProxy(server!.port!)
  proxy.fault('/sse', 'hold-body')
  const client = clients.create({ url: proxy.url, transports: ['sse', 'longpoll'], openTimeoutMs: 1500 })
  const got: unknown[] = []
  const gaps: unknown[] = []
  client.on('gap', (g) => gaps.push(g))
  const sub = client.subscribe('feed', (m: Message) => got.push(m.data))
  // Published by someone else once the server answered the stream (its headers fix where it starts), while
  // its events are held back by the proxy.
  await until(() => sub.cursor !== undefined, 5000, 'the SSE response headers')
  for (const n of [1, 2, 3]) await server!.publish('feed', n)
  await until(() => got.length >= 3, 15_000, 'three messages over long polling')
  expect(got).toEqual([1, 2, 3])
  expect(client.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  expect(gaps).toEqual([])
})
