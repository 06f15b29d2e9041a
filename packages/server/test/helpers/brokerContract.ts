import { compareCursors, cursorEpoch, parseCursor } from '@holdfast/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { Broker, HistoryOptions } from '../../src/index'

export interface ContractBrokerOptions {
  history?: HistoryOptions
  idempotencyWindowMs?: number
}

export interface BrokerHarness {
  /** A fresh broker whose channels no other test sees. */
  create(options?: ContractBrokerOptions): Broker
  /** Lets `ms` pass for the brokers created since: a manual clock, or real waiting for Redis. */
  advance(ms: number): Promise<void>
  /**
   * Messages a broker may keep beyond `history.size` (Redis trims approximately, by whole stream nodes).
   * Trimming tests publish this many more than `size`.
   */
  trimSlack: number
}

const json = (v: unknown) => JSON.stringify(v)

/** Waits for live delivery, which is synchronous in memory and a Pub/Sub round trip away with Redis. */
async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * What every broker promises (src/broker/Broker.ts), run against each implementation, so the Redis broker
 * is held to exactly the memory broker's contract: ordering, honest `recovered`, `from`, paging,
 * idempotency and live delivery.
 */
export function describeBrokerContract(name: string, makeHarness: () => BrokerHarness): void {
  describe(`${name}: the Broker contract`, () => {
    const brokers: Broker[] = []
    let harness: BrokerHarness
    const create = (options?: ContractBrokerOptions) => {
      harness ??= makeHarness()
      const broker = harness.create(options)
      brokers.push(broker)
      return broker
    }
    afterEach(async () => {
      await Promise.all(brokers.splice(0).map((b) => b.close()))
    })

    it('gives cursors that strictly increase within one epoch, and each channel its own epoch', async () => {
      const broker = create()
      const a = []
      for (let i = 1; i <= 3; i++) a.push(await broker.publish('a', json(i)))
      expect(new Set(a.map((r) => cursorEpoch(r.cursor))).size).toBe(1)
      expect(compareCursors(a[0]!.cursor, a[1]!.cursor)).toBeLessThan(0)
      expect(compareCursors(a[1]!.cursor, a[2]!.cursor)).toBeLessThan(0)
      expect(a.every((r) => r.duplicate === false)).toBe(true)
      const b = await broker.publish('b', json(1))
      expect(cursorEpoch(b.cursor)).not.toBe(cursorEpoch(a[0]!.cursor))
    })

    it('orders concurrent publishes one way for history and live delivery alike', async () => {
      const broker = create()
      const live: string[] = []
      const stop = await broker.subscribe('c', (m) => live.push(m.cursor))
      const { epoch } = await broker.read('c')
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => broker.publish('c', json(i))))
      const cursors = results.map((r) => r.cursor)
      expect(new Set(cursors).size).toBe(100)
      await until(() => live.length === 100, 'every live notification')
      const stored = (await broker.read('c', { since: `${epoch}:0` })).messages.map((m) => m.cursor)
      expect(live).toEqual(stored)
      expect([...cursors].sort((x, y) => compareCursors(x, y))).toEqual(stored)
      stop()
    })

    it('encodes each message once: the WebSocket frame and the SSE body share the payload JSON', async () => {
      const broker = create()
      const { epoch } = await broker.read('a')
      await broker.publish('a', json({ text: 'hé "quoted"\n' }))
      const m = (await broker.read('a', { since: `${epoch}:0` })).messages[0]!
      expect(JSON.parse(m.frame)).toEqual({
        type: 'message',
        channel: 'a',
        cursor: m.cursor,
        data: { text: 'hé "quoted"\n' },
      })
      expect(JSON.parse(m.body)).toEqual({ channel: 'a', cursor: m.cursor, data: { text: 'hé "quoted"\n' } })
      expect(m.frameBytes.toString('utf8')).toBe(m.frame)
      expect(m.time).toBeGreaterThan(0)
    })

    it('reads without since: the head and nothing to replay', async () => {
      const broker = create()
      const empty = await broker.read('a')
      expect(empty).toMatchObject({ head: `${empty.epoch}:0`, recovered: true, messages: [], more: false })
      await broker.publish('a', json(1))
      const { cursor } = await broker.publish('a', json(2))
      expect(await broker.read('a')).toMatchObject({
        epoch: empty.epoch,
        head: cursor,
        from: cursor,
        recovered: true,
        messages: [],
      })
    })

    it('replays exactly the messages after since when they are all retained', async () => {
      const broker = create()
      const cursors = []
      for (let i = 1; i <= 5; i++) cursors.push((await broker.publish('a', json(i))).cursor)
      const read = await broker.read('a', { since: cursors[1] })
      expect(read).toMatchObject({ recovered: true, from: cursors[1], more: false })
      expect(read.messages.map((m) => JSON.parse(m.json))).toEqual([3, 4, 5])
      expect(read.messages.map((m) => m.cursor)).toEqual(cursors.slice(2))
      expect(await broker.read('a', { since: cursors[4] })).toMatchObject({ recovered: true, messages: [] })
    })

    it('trims by count and says recovered:false when the requested history is gone', async () => {
      const size = 10
      const broker = create({ history: { size } })
      const { epoch } = await broker.read('a')
      const total = size + harness.trimSlack + 50
      const cursors: string[] = []
      for (let i = 1; i <= total; i++) cursors.push((await broker.publish('a', json(i))).cursor)
      const fromStart = await broker.read('a', { since: `${epoch}:0` })
      expect(fromStart.recovered).toBe(false)
      const kept = fromStart.messages.map((m) => m.cursor)
      expect(kept.length).toBeGreaterThanOrEqual(size)
      expect(kept.length).toBeLessThan(total)
      // What it replays is the retained tail, nothing invented, nothing skipped within it.
      expect(kept).toEqual(cursors.slice(total - kept.length))
      // `from` is the newest lost cursor: resuming from it replays the same messages without a second gap.
      const lost = total - kept.length - 1
      expect(fromStart.from).toBe(cursors[lost])
      const again = await broker.read('a', { since: fromStart.from })
      expect(again.recovered).toBe(true)
      expect(again.messages.map((m) => m.cursor)).toEqual(kept)
      expect((await broker.read('a', { since: cursors[lost - 1] })).recovered).toBe(false)
    })

    it('says recovered:false for a cursor of another epoch, from the future or malformed, replaying what it has', async () => {
      const broker = create()
      const { epoch } = await broker.read('a')
      await broker.publish('a', json(1))
      const { cursor: head } = await broker.publish('a', json(2))
      const all = (await broker.read('a', { since: `${epoch}:0` })).messages.map((m) => m.cursor)
      const otherEpoch = await broker.read('a', { since: 'someOtherEpoch:1' })
      expect(otherEpoch).toMatchObject({ recovered: false, from: `${epoch}:0` })
      expect(otherEpoch.messages.map((m) => m.cursor)).toEqual(all)
      const h = parseCursor(head)!
      for (const future of [`${epoch}:${h.major + 1000}`, `${epoch}:${h.major}-${h.minor + 1}`]) {
        const read = await broker.read('a', { since: future })
        expect(read.recovered).toBe(false)
        expect(read.messages.map((m) => m.cursor)).toEqual(all)
      }
      expect(await broker.read('a', { since: 'not a cursor' })).toMatchObject({ recovered: false })
    })

    it('pages with limit and more', async () => {
      const broker = create()
      const { epoch } = await broker.read('a')
      for (let i = 1; i <= 5; i++) await broker.publish('a', json(i))
      const first = await broker.read('a', { since: `${epoch}:0`, limit: 2 })
      expect(first.messages.map((m) => JSON.parse(m.json))).toEqual([1, 2])
      expect(first.more).toBe(true)
      const rest = await broker.read('a', { since: first.messages[1]!.cursor, limit: 3 })
      expect(rest.messages.map((m) => JSON.parse(m.json))).toEqual([3, 4, 5])
      expect(rest.more).toBe(false)
    })

    it('stores an idempotency key once per channel within the window', async () => {
      const broker = create({ idempotencyWindowMs: 300 })
      const first = await broker.publish('a', json(1), { idempotencyKey: 'k' })
      const again = await broker.publish('a', json('ignored'), { idempotencyKey: 'k' })
      expect(again).toEqual({ cursor: first.cursor, duplicate: true })
      const { epoch } = await broker.read('a')
      expect((await broker.read('a', { since: `${epoch}:0` })).messages.map((m) => m.json)).toEqual(['1'])
      expect((await broker.publish('b', json(1), { idempotencyKey: 'k' })).duplicate).toBe(false)
      await harness.advance(400)
      const later = await broker.publish('a', json(1), { idempotencyKey: 'k' })
      expect(later.duplicate).toBe(false)
      expect(later.cursor).not.toBe(first.cursor)
    })

    it('notifies subscribers of later messages in order, survives a throwing listener, and stops after unsubscribe', async () => {
      const broker = create()
      await broker.publish('a', json(0))
      const seen: unknown[] = []
      const witness: unknown[] = []
      const unsubscribe = await broker.subscribe('a', (m) => seen.push(JSON.parse(m.json)))
      const stopWitness = await broker.subscribe('a', (m) => witness.push(JSON.parse(m.json)))
      const throwing = await broker.subscribe('a', () => {
        throw new Error('a buggy listener')
      })
      await broker.publish('a', json(1))
      await broker.publish('b', json('other channel'))
      await broker.publish('a', json(2))
      await until(() => seen.length === 2, 'two live messages')
      unsubscribe()
      throwing()
      await broker.publish('a', json(3))
      await until(() => witness.length === 3, 'the witness to see the third')
      expect(seen).toEqual([1, 2])
      expect(witness).toEqual([1, 2, 3])
      stopWitness()
    })
  })
}
