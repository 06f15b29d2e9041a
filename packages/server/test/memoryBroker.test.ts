import { compareCursors, cursorEpoch, parseCursor } from '@holdfast/protocol'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type Broker, memoryBroker } from '../src/index'

const json = (v: unknown) => JSON.stringify(v)
const offsets = (messages: Array<{ cursor: string }>) => messages.map((m) => parseCursor(m.cursor)!.major)

describe('memoryBroker', () => {
  let broker: Broker
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') })
  })
  afterEach(async () => {
    await broker?.close()
    vi.useRealTimers()
  })

  it('gives cursors that strictly increase within one epoch, and each log its own epoch', async () => {
    broker = memoryBroker()
    const a = [
      await broker.publish('a', json(1)),
      await broker.publish('a', json(2)),
      await broker.publish('a', json(3)),
    ]
    expect(new Set(a.map((r) => cursorEpoch(r.cursor))).size).toBe(1)
    expect(compareCursors(a[0]!.cursor, a[1]!.cursor)).toBeLessThan(0)
    expect(compareCursors(a[1]!.cursor, a[2]!.cursor)).toBeLessThan(0)
    const b = await broker.publish('b', json(1))
    expect(cursorEpoch(b.cursor)).not.toBe(cursorEpoch(a[0]!.cursor))
    // A restart is a new broker: a new epoch, so old cursors are recognisably from a lost log.
    const restarted = memoryBroker()
    const again = await restarted.publish('a', json(1))
    expect(cursorEpoch(again.cursor)).not.toBe(cursorEpoch(a[0]!.cursor))
    await restarted.close()
  })

  it('encodes each message once: the WebSocket frame and the SSE body share the payload JSON', async () => {
    broker = memoryBroker()
    await broker.publish('a', json({ text: 'hé "quoted"' }))
    const { messages } = await broker.read('a', { since: `${(await broker.read('a')).epoch}:0` })
    const m = messages[0]!
    expect(JSON.parse(m.frame)).toEqual({
      type: 'message',
      channel: 'a',
      cursor: m.cursor,
      data: { text: 'hé "quoted"' },
    })
    expect(JSON.parse(m.body)).toEqual({ channel: 'a', cursor: m.cursor, data: { text: 'hé "quoted"' } })
    expect(m.frameBytes.toString('utf8')).toBe(m.frame)
    expect(m.frameBytes).toBe(m.frameBytes)
  })

  it('reads without since: the head and nothing to replay', async () => {
    broker = memoryBroker()
    const empty = await broker.read('a')
    expect(empty).toMatchObject({ head: `${empty.epoch}:0`, recovered: true, messages: [], more: false })
    await broker.publish('a', json(1))
    const { cursor } = await broker.publish('a', json(2))
    const read = await broker.read('a')
    expect(read).toMatchObject({
      epoch: empty.epoch,
      head: cursor,
      from: cursor,
      recovered: true,
      messages: [],
    })
  })

  it('replays exactly the messages after since when they are all retained', async () => {
    broker = memoryBroker()
    const cursors = []
    for (let i = 1; i <= 5; i++) cursors.push((await broker.publish('a', json(i))).cursor)
    const read = await broker.read('a', { since: cursors[1] })
    expect(read.recovered).toBe(true)
    expect(read.from).toBe(cursors[1])
    expect(read.messages.map((m) => JSON.parse(m.json))).toEqual([3, 4, 5])
    const atHead = await broker.read('a', { since: cursors[4] })
    expect(atHead).toMatchObject({ recovered: true, messages: [] })
  })

  it('trims by count and says recovered:false when the requested history is gone', async () => {
    broker = memoryBroker({ history: { size: 3 } })
    const { epoch } = await broker.read('a')
    for (let i = 1; i <= 5; i++) await broker.publish('a', json(i))
    const fromStart = await broker.read('a', { since: `${epoch}:0` })
    expect(fromStart.recovered).toBe(false)
    expect(offsets(fromStart.messages)).toEqual([3, 4, 5])
    // `from` resumes the same retained messages without claiming a second gap.
    expect(fromStart.from).toBe(`${epoch}:2`)
    expect(await broker.read('a', { since: `${epoch}:1` })).toMatchObject({ recovered: false })
    const fromLastLost = await broker.read('a', { since: `${epoch}:2` })
    expect(fromLastLost.recovered).toBe(true)
    expect(offsets(fromLastLost.messages)).toEqual([3, 4, 5])
  })

  it('trims by age', async () => {
    broker = memoryBroker({ history: { ttlMs: 1000 } })
    const { epoch } = await broker.read('a')
    await broker.publish('a', json('old'))
    vi.advanceTimersByTime(600)
    await broker.publish('a', json('new'))
    vi.advanceTimersByTime(500)
    const read = await broker.read('a', { since: `${epoch}:0` })
    expect(read.recovered).toBe(false)
    expect(read.messages.map((m) => JSON.parse(m.json))).toEqual(['new'])
    expect(await broker.read('a', { since: `${epoch}:1` })).toMatchObject({ recovered: true })
  })

  it('says recovered:false for a cursor of another epoch or from the future, replaying what it has', async () => {
    broker = memoryBroker()
    const { epoch } = await broker.read('a')
    await broker.publish('a', json(1))
    await broker.publish('a', json(2))
    const otherEpoch = await broker.read('a', { since: 'someOtherEpoch:1' })
    expect(otherEpoch).toMatchObject({ recovered: false, from: `${epoch}:0` })
    expect(offsets(otherEpoch.messages)).toEqual([1, 2])
    const future = await broker.read('a', { since: `${epoch}:9` })
    expect(future.recovered).toBe(false)
    expect(offsets(future.messages)).toEqual([1, 2])
    expect(await broker.read('a', { since: `${epoch}:2-1` })).toMatchObject({ recovered: false })
    expect(await broker.read('a', { since: 'not a cursor' })).toMatchObject({ recovered: false })
  })

  it('pages with limit and more', async () => {
    broker = memoryBroker()
    const { epoch } = await broker.read('a')
    for (let i = 1; i <= 5; i++) await broker.publish('a', json(i))
    const first = await broker.read('a', { since: `${epoch}:0`, limit: 2 })
    expect(offsets(first.messages)).toEqual([1, 2])
    expect(first.more).toBe(true)
    const rest = await broker.read('a', { since: first.messages[1]!.cursor, limit: 10 })
    expect(offsets(rest.messages)).toEqual([3, 4, 5])
    expect(rest.more).toBe(false)
  })

  it('stores an idempotency key once per channel within the window', async () => {
    broker = memoryBroker({ idempotencyWindowMs: 1000 })
    const first = await broker.publish('a', json(1), { idempotencyKey: 'k' })
    const again = await broker.publish('a', json(1), { idempotencyKey: 'k' })
    expect(again).toEqual({ cursor: first.cursor, duplicate: true })
    const { epoch } = await broker.read('a')
    expect((await broker.read('a', { since: `${epoch}:0` })).messages).toHaveLength(1)
    expect((await broker.publish('b', json(1), { idempotencyKey: 'k' })).duplicate).toBe(false)
    vi.advanceTimersByTime(1000)
    const later = await broker.publish('a', json(1), { idempotencyKey: 'k' })
    expect(later.duplicate).toBe(false)
    expect(later.cursor).not.toBe(first.cursor)
  })

  it('notifies subscribers of later messages in order, and not after unsubscribe', async () => {
    broker = memoryBroker()
    await broker.publish('a', json(0))
    const seen: unknown[] = []
    const unsubscribe = await broker.subscribe('a', (m) => seen.push(JSON.parse(m.json)))
    const throwing = await broker.subscribe('a', () => {
      throw new Error('a buggy listener')
    })
    await broker.publish('a', json(1))
    await broker.publish('b', json('other channel'))
    await broker.publish('a', json(2))
    unsubscribe()
    throwing()
    await broker.publish('a', json(3))
    expect(seen).toEqual([1, 2])
  })

  it('forgets an idle empty log only after a whole TTL, and never while someone listens', async () => {
    broker = memoryBroker({ history: { ttlMs: 1000 } })
    const watched = (await broker.read('watched')).epoch
    const idle = (await broker.read('idle')).epoch
    const stop = await broker.subscribe('watched', () => {})
    vi.advanceTimersByTime(500)
    expect((await broker.read('idle')).epoch).toBe(idle)
    vi.advanceTimersByTime(5000)
    expect((await broker.read('idle')).epoch).not.toBe(idle)
    expect((await broker.read('watched')).epoch).toBe(watched)
    stop()
  })

  it('property: any mix of publishes and time keeps cursors increasing and never overstates recovery', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant<'publish'>('publish'), fc.integer({ min: 1, max: 400 })), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 6 }),
        async (steps, size) => {
          const b = memoryBroker({ history: { size, ttlMs: 1000 } })
          await b.read('c')
          const all: string[] = []
          for (const step of steps) {
            if (step === 'publish') all.push((await b.publish('c', json(all.length))).cursor)
            else vi.advanceTimersByTime(step)
          }
          // An idle empty log may be forgotten (and a later publish starts a new epoch); time stands
          // still from here on, so this read pins the epoch for the checks below.
          const { epoch } = await b.read('c')
          const current = all.filter((c) => cursorEpoch(c) === epoch)
          for (let i = 1; i < current.length; i++)
            expect(compareCursors(current[i - 1]!, current[i]!)).toBeLessThan(0)
          for (const old of all.filter((c) => cursorEpoch(c) !== epoch))
            expect((await b.read('c', { since: old })).recovered).toBe(false)
          for (let k = 0; k <= current.length; k++) {
            const since = k === 0 ? `${epoch}:0` : current[k - 1]!
            const read = await b.read('c', { since })
            const got = read.messages.map((m) => m.cursor)
            const expected = current.slice(k)
            if (read.epoch !== epoch) {
              // Reading is activity; the log cannot be forgotten between these reads.
              throw new Error('epoch changed during reads')
            }
            if (read.recovered) expect(got).toEqual(expected)
            else {
              // What it replays is the retained tail, and something before it really was lost.
              expect(got).toEqual(expected.slice(expected.length - got.length))
              expect(got.length).toBeLessThan(expected.length)
            }
          }
          await b.close()
        },
      ),
      { numRuns: 150 },
    )
  })
})
