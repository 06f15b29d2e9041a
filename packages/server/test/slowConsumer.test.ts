import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { CloseCode } from '@holdfast/protocol'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import type { HoldfastServer, LimitOptions, SlowConsumerPolicy } from '../src/index'
import { connect, eventually, openPausableSse, startServer, type TestSocket, wsUrl } from './helpers/fixtures'

const PAD = 'p'.repeat(8 * 1024)
const tick = () => new Promise((resolve) => setImmediate(resolve))

/** Sum of a metric's samples whose labels include `labels`. */
async function metric(
  server: HoldfastServer,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const found = server.metrics!.getSingleMetric(name)
  if (!found) throw new Error(`no metric ${name}`)
  const { values } = await found.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0)
}

function pause(socket: TestSocket): void {
  ;(socket.ws as unknown as { _socket: { pause(): void } })._socket.pause()
}
function resume(socket: TestSocket): void {
  ;(socket.ws as unknown as { _socket: { resume(): void } })._socket.resume()
}

async function subscribed(server: { url: string }, ...channels: string[]): Promise<TestSocket> {
  const socket = await connect(server)
  for (const [i, channel] of channels.entries()) socket.send({ type: 'subscribe', id: i + 1, channel })
  for (const _ of channels) await socket.nextOfType('subscribed')
  return socket
}

/** Publishes 8 KiB messages until `done` holds (a few MB get absorbed by the kernel's socket buffers first). */
async function flood(server: HoldfastServer, channel: string, done: () => Promise<boolean>): Promise<number> {
  let n = 0
  while (n < 5000 && !(await done())) {
    for (let i = 0; i < 20; i++) await server.publish(channel, { n: n++, pad: PAD })
    await tick()
  }
  return n
}

const numbers = (socket: TestSocket, channel: string) =>
  socket.messages(channel).map((m) => (m.data as { n: number }).n)

function policyServer(limits: LimitOptions) {
  return startServer({
    history: { size: 6000 },
    limits: { sendBufferBytes: 64 * 1024, maxMessageBytes: 16 * 1024, ...limits },
  })
}

describe('slow consumer policies', () => {
  it("'drop' skips live messages for a connection that stopped reading, keeps it open, and others get everything", async () => {
    const server = await policyServer({ slowConsumer: 'drop' })
    const slow = await subscribed(server, 'firehose')
    const fast = await subscribed(server, 'firehose')
    pause(slow)
    let sent = await flood(
      server,
      'firehose',
      async () => (await metric(server, 'holdfast_dropped_messages_total', { policy: 'drop' })) > 20,
    )
    expect(
      await metric(server, 'holdfast_dropped_messages_total', { transport: 'websocket', policy: 'drop' }),
    ).toBeGreaterThan(20)
    expect(await metric(server, 'holdfast_slow_consumer_closes_total')).toBe(0)
    expect(server.connectionCount).toBe(2)
    resume(slow)
    await server.publish('firehose', { n: sent++, pad: '' })
    await eventually(() => expect(numbers(slow, 'firehose').at(-1)).toBe(sent - 1))
    const got = numbers(slow, 'firehose')
    expect(got.length).toBeLessThan(sent)
    expect(got.every((n, i) => i === 0 || n > got[i - 1]!)).toBe(true)
    await eventually(() => expect(numbers(fast, 'firehose')).toHaveLength(sent))
    expect(numbers(fast, 'firehose')).toEqual(Array.from({ length: sent }, (_, i) => i))
  })

  it("'latest' keeps only the newest message of a channel for a connection that stopped reading, and sends it once there is room", async () => {
    const server = await policyServer({ slowConsumer: 'latest' })
    const slow = await subscribed(server, 'prices')
    pause(slow)
    const sent = await flood(
      server,
      'prices',
      async () => (await metric(server, 'holdfast_dropped_messages_total', { policy: 'latest' })) > 20,
    )
    expect(await metric(server, 'holdfast_slow_consumer_closes_total')).toBe(0)
    resume(slow)
    // No new publish: the parked newest message goes out when the socket drains.
    await eventually(() => expect(numbers(slow, 'prices').at(-1)).toBe(sent - 1))
    const got = numbers(slow, 'prices')
    expect(got.length).toBeLessThan(sent)
    expect(got.every((n, i) => i === 0 || n > got[i - 1]!)).toBe(true)
    expect(slow.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('applies a per-channel policy: a flood on a "latest" channel is absorbed, one on a "close" channel closes with 4001', async () => {
    const policy = (channel: string): SlowConsumerPolicy =>
      channel.startsWith('ticker.') ? 'latest' : 'close'
    const server = await policyServer({ slowConsumer: policy })
    const slow = await subscribed(server, 'ticker.eur', 'chat')
    pause(slow)
    await flood(
      server,
      'ticker.eur',
      async () => (await metric(server, 'holdfast_dropped_messages_total', { policy: 'latest' })) > 5,
    )
    expect(await metric(server, 'holdfast_slow_consumer_closes_total')).toBe(0)
    await server.publish('chat', { n: 0, pad: PAD })
    expect(await metric(server, 'holdfast_slow_consumer_closes_total', { transport: 'websocket' })).toBe(1)
    resume(slow)
    expect((await slow.closed).code).toBe(CloseCode.SlowConsumer)
  })

  it("'drop' on SSE: the stream stays open and carries on once the reader is back", async () => {
    const server = await policyServer({ slowConsumer: 'drop' })
    const sse = await openPausableSse(`${server.url}/sse?channel=feed`)
    const { response } = sse
    await eventually(() => expect(sse.text).toContain('event: subscribed'))
    response.pause()
    await flood(
      server,
      'feed',
      async () => (await metric(server, 'holdfast_dropped_messages_total', { transport: 'sse' })) > 20,
    )
    expect(await metric(server, 'holdfast_slow_consumer_closes_total')).toBe(0)
    response.resume()
    await server.publish('feed', { marker: true })
    await eventually(() => expect(sse.text).toContain('"marker":true'))
    expect(sse.ended).toBe(false)
  })
})

/**
 * 100 clients stop reading while 6,000 messages of 4 KiB fan out (24 MB to each of them). Without a send
 * limit every unread message would queue in the server for each of them (about 2.4 GB); with it, what the
 * server holds is its history plus at most the send buffer per connection, and the clients that do read get
 * every message, in order. The test asserts those guarantees, counted in messages and bytes, never a
 * speed: how fast this machine publishes changes nothing it checks.
 */
const gc = (() => {
  v8.setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()
const MESSAGES = 6000
const SEND_BUFFER = 64 * 1024
const SLOW = 100

describe('memory under 100 slow consumers', () => {
  for (const policy of ['close', 'latest'] as const)
    it(`stays bounded with the '${policy}' policy while fast clients keep receiving everything`, async () => {
      const server = await startServer({
        history: { size: 1000 },
        limits: { sendBufferBytes: SEND_BUFFER, slowConsumer: policy, maxSubscriptionsPerConnection: 1 },
      })
      const slow = await Promise.all(Array.from({ length: SLOW }, () => subscribed(server, 'fanout')))
      for (const socket of slow) pause(socket)
      const fast = await Promise.all(
        Array.from({ length: 3 }, async () => {
          const ws = new WebSocket(wsUrl(server), ['holdfast.v1'], { perMessageDeflate: false })
          onTestFinished(() => ws.terminate())
          const state = { count: 0, inOrder: true, ready: false }
          ws.on('message', (data: Buffer) => {
            // Only the head of each frame is decoded: the readers must keep up without parsing 4 KiB each.
            const head = data.subarray(0, 160).toString()
            if (head.startsWith('{"type":"subscribed"')) state.ready = true
            if (!head.startsWith('{"type":"message"')) return
            if (Number(/"n":(\d+)/.exec(head)?.[1]) !== state.count) state.inOrder = false
            state.count++
          })
          await new Promise((resolve) => ws.once('open', resolve))
          ws.send(JSON.stringify({ type: 'connect' }))
          ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'fanout' }))
          await eventually(() => expect(state.ready).toBe(true))
          return state
        }),
      )
      // What is still referenced (after a full GC), sampled through the run: garbage from 6,000 x 103
      // deliveries would otherwise drown what the server actually holds.
      const retained = () => {
        gc()
        const m = process.memoryUsage()
        return m.heapUsed + m.external
      }
      const baseline = retained()
      let peakRetained = baseline
      const pad = 'x'.repeat(4096)
      for (let n = 0; n < MESSAGES; ) {
        for (let i = 0; i < 200; i++) await server.publish('fanout', { n: n++, pad })
        // Yield to I/O between batches, so the fast readers read and the slow ones fill up.
        await new Promise((resolve) => setImmediate(resolve))
        if (n % 1000 === 0) peakRetained = Math.max(peakRetained, retained())
      }
      await eventually(() => expect(fast.every((f) => f.count === MESSAGES)).toBe(true), 60_000)
      peakRetained = Math.max(peakRetained, retained())
      const retainedGrowth = peakRetained - baseline
      // The bound: the history (1,000 messages, as the broker counts them) plus, per connection, its send
      // buffer and up to twice that for replies, plus 16 MiB for the test's own sockets and buffers.
      // Unlimited, the slow connections alone would hold 100 x 24 MB.
      const history = 1000 * (6 * 4150 + 1024)
      const bound = history + (SLOW + 3) * 2 * SEND_BUFFER + 16 * 2 ** 20
      console.log(
        `[slow consumers/${policy}] retained growth ${(retainedGrowth / 2 ** 20).toFixed(1)} MB (bound ${(bound / 2 ** 20).toFixed(1)} MB); ` +
          `slow-consumer closes ${await metric(server, 'holdfast_slow_consumer_closes_total')}, ` +
          `superseded ${await metric(server, 'holdfast_dropped_messages_total')}`,
      )
      expect(retainedGrowth).toBeLessThan(bound)
      for (const f of fast) expect(f).toMatchObject({ count: MESSAGES, inOrder: true })
      if (policy === 'close') {
        expect(await metric(server, 'holdfast_slow_consumer_closes_total', { transport: 'websocket' })).toBe(
          SLOW,
        )
      } else {
        expect(server.connectionCount).toBe(SLOW + 3)
        expect(await metric(server, 'holdfast_slow_consumer_closes_total')).toBe(0)
        // Once a slow reader reads again, it ends on the newest message: nothing older was parked for it.
        resume(slow[0]!)
        await eventually(() => expect(numbers(slow[0]!, 'fanout').at(-1)).toBe(MESSAGES - 1), 30_000)
      }
    }, 120_000)
})
