// A client's publishes are stored in the order it made them, also when the server refuses some for their rate.
// On WebSocket the client pipelines, so a refused publish's successors are already on the wire when the
// refusal comes back: the server holds them behind it (until it is sent again), and the client sends nothing
// until its retry time, then oldest first. Over HTTP one publish is in flight at a time.
import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterEach, expect, test } from 'vitest'
import WebSocket from 'ws'
import type { Message, PublishResult } from '../../src'
import { until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'

let server: HoldfastServer | undefined
const clients = nodeClients()

afterEach(async () => {
  clients.closeAll()
  await server?.close()
  server = undefined
})

/** Server time under the test's control: `step` ms per read (0: only when the test moves it). */
function testClock(step: number) {
  let now = Date.now()
  return {
    now: () => (now += step),
    advance: (ms: number) => {
      now += ms
    },
    setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
  }
}

async function reader(channel: string) {
  const client = clients.create({ url: server!.url!, transports: ['websocket'], lazy: false })
  const got: unknown[] = []
  client.subscribe(channel, (m: Message) => got.push(m.data))
  await until(() => client.state.status === 'connected', 10_000, 'the reader to connect')
  return got
}

function expectStoredInOrder(results: PublishResult[]) {
  const offsets = results.map((r) => Number(r.cursor.split(':').pop()))
  expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
  expect(new Set(offsets).size).toBe(results.length)
}

test('websocket: pipelined publishes are stored in the order they were made, across rate-limit refusals', async () => {
  // Server time moves 1 ms on every read, whatever the machine's speed. With one token per 20 ms (20 reads),
  // refills fall between publishes of one pipelined burst: some are refused and a later one would be allowed
  // again, which is where it could overtake an earlier, refused one.
  const rate = { perSecond: 50, burst: 1 }
  server = createServer({
    clock: testClock(1) as never,
    limits: { publishRate: rate, publishRatePerClient: rate },
  })
  await server.listen(0)
  const got = await reader('ordered')
  let refusals = 0
  const CountingWebSocket = class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      this.on('message', (raw) => {
        if (String(raw).includes('"rate_limited"')) refusals++
      })
    }
  }
  const writer = clients.create({
    url: server.url!,
    transports: ['websocket'],
    WebSocket: CountingWebSocket as never,
  })
  const count = 40
  const results = await Promise.all(Array.from({ length: count }, (_, i) => writer.publish('ordered', i)))
  await until(() => got.length >= count, 20_000, `${count} messages`)
  expect(refusals).toBeGreaterThan(0)
  expect(got).toEqual(Array.from({ length: count }, (_, i) => i))
  expectStoredInOrder(results)
})

test.each(['sse', 'longpoll'] as const)(
  '%s: publishes made without waiting are stored in order across 429 refusals, each sent again after Retry-After',
  async (transport) => {
    // A frozen clock: after the burst every publish is refused until the test moves time on, which it does
    // when it sees a refusal, so the run is the same on any machine.
    const clock = testClock(0)
    const rate = { perSecond: 1, burst: 3 }
    server = createServer({ clock: clock as never, limits: { publishRatePerClient: rate } })
    await server.listen(0)
    const got = await reader('ordered')
    let refusals = 0
    const countingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init)
      if (response.status === 429) {
        refusals++
        clock.advance(3000)
      }
      return response
    }
    const writer = clients.create({ url: server.url!, transports: [transport], fetch: countingFetch })
    const count = 7
    const results = await Promise.all(Array.from({ length: count }, (_, i) => writer.publish('ordered', i)))
    await until(() => got.length >= count, 20_000, `${count} messages`)
    expect(refusals).toBe(2)
    expect(got).toEqual(Array.from({ length: count }, (_, i) => i))
    expectStoredInOrder(results)
  },
)
