import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { type HistoryEviction, memoryBroker } from '../src/index'
import { connect, startServer } from './helpers/fixtures'

const gc = (() => {
  v8.setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()
const retained = () => {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}
const MiB = 2 ** 20

describe('the memory broker has a budget in total (history.maxBytes, history.maxChannels)', () => {
  it('holds at most 256 MiB of history by default, whatever the number of channels', async () => {
    const broker = memoryBroker()
    const json = JSON.stringify({ pad: 'x'.repeat(128 * 1024) })
    // 3 channels x 1,000 messages of 128 KiB: about 2.3 GiB as the broker counts it, 400 MB of payload.
    for (let channel = 0; channel < 3; channel++)
      for (let i = 0; i < 1000; i++) await broker.publish(`ch${channel}`, json)
    expect(broker.stats().bytes).toBeLessThanOrEqual(256 * MiB)
    expect(broker.stats().bytes).toBeGreaterThan(200 * MiB)
    await broker.close()
  }, 60_000)

  it('keeps what it retains within history.maxBytes in real memory too, evicting the oldest idle history first and reporting it', async () => {
    const evictions: HistoryEviction[] = []
    const maxBytes = 16 * MiB
    const broker = memoryBroker({ history: { maxBytes }, onEvict: (e) => evictions.push(e) })
    const listening = await broker.subscribe('watched', () => {})
    const before = retained()
    const pad = 'x'.repeat(128 * 1024)
    const epochs = new Map<string, string>()
    for (const [channel, count] of [
      ['idle.a', 100],
      ['idle.b', 100],
      ['watched', 10],
      ['idle.c', 100],
    ] as const) {
      epochs.set(channel, (await broker.read(channel)).epoch)
      for (let i = 0; i < count; i++) await broker.publish(channel, JSON.stringify({ i, pad }))
    }
    const growth = retained() - before
    console.log(
      `[history budget] 310 messages of 128 KiB (39 MiB of payload), maxBytes 16 MiB: counted ${(broker.stats().bytes / MiB).toFixed(1)} MiB, retained ${(growth / MiB).toFixed(1)} MiB`,
    )
    expect(broker.stats().bytes).toBeLessThanOrEqual(maxBytes)
    // What the process really holds: the budget, plus 4 MiB for the test's own strings and arrays.
    expect(growth).toBeLessThan(maxBytes + 4 * MiB)
    // Idle history went, oldest first; the channel someone listens to kept all of its own.
    expect(evictions[0]).toMatchObject({ channel: 'idle.a', reason: 'max_bytes' })
    expect(evictions.map((e) => e.channel)).not.toContain('watched')
    const watched = await broker.read('watched', { since: `${epochs.get('watched')}:0` })
    expect(watched).toMatchObject({ recovered: true })
    expect(watched.messages).toHaveLength(10)
    // A client that wanted evicted history is told so.
    const lost = await broker.read('idle.a', { since: `${epochs.get('idle.a')}:50` })
    expect(lost.recovered).toBe(false)
    listening()
    await broker.close()
  })

  it('frees the least recently used idle channel past history.maxChannels', async () => {
    const reasons = new Map<string, number>()
    const broker = memoryBroker({
      history: { maxChannels: 100 },
      onEvict: (e) => reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1),
    })
    const before = retained()
    for (let i = 0; i < 100_000; i++) {
      const unsubscribe = await broker.subscribe(`room.${i}`, () => {})
      unsubscribe()
    }
    expect(broker.stats().channels).toBe(100)
    expect(Object.fromEntries(reasons)).toEqual({ max_channels: 100_000 - 100 })
    // 100,000 names came and went; what stays is 100 logs and the bounded list of freed ones (10,000).
    expect(retained() - before).toBeLessThan(4 * MiB)
    await broker.close()
  })

  it('tells a resuming client recovered:false and counts the eviction in the server metrics', async () => {
    const server = await startServer({ history: { maxBytes: 64 * 1024 } })
    const first = await server.publish('old', 'x'.repeat(1000))
    for (let i = 0; i < 20; i++) await server.publish('new', 'y'.repeat(1000))
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'old', since: `${first.cursor.split(':')[0]}:0` })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ recovered: false })
    const text = await server.metrics!.metrics()
    expect(text).toMatch(/holdfast_history_evicted_messages_total\{reason="max_bytes"\} [1-9]/)
    expect(text).toMatch(/holdfast_history_bytes \d+/)
  })
})
