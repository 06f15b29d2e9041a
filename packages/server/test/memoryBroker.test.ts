import { compareCursors, cursorEpoch, parseCursor } from '@holdfast/protocol'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type Broker, memoryBroker } from '../src/index'
import { describeBrokerContract } from './helpers/brokerContract'
import { ManualClock } from './helpers/manualClock'
import { describePresenceContract } from './helpers/presenceContract'

const json = (v: unknown) => JSON.stringify(v)
const offsets = (messages: Array<{ cursor: string }>) => messages.map((m) => parseCursor(m.cursor)!.major)

describeBrokerContract('memoryBroker', () => {
  const clock = new ManualClock()
  return {
    create: (options) => memoryBroker({ ...options, clock }),
    advance: async (ms) => clock.advance(ms),
    trimSlack: 0,
  }
})

describePresenceContract('memoryBroker', () => {
  const clock = new ManualClock()
  return {
    create: () => {
      const broker = memoryBroker({ clock })
      // One process: a second "process" is the same store.
      return { broker, twin: () => broker }
    },
    advance: async (ms) => clock.advance(ms),
  }
})

describe('memoryBroker', () => {
  let broker: Broker
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') })
  })
  afterEach(async () => {
    await broker?.close()
    vi.useRealTimers()
  })

  it('starts a new epoch when it restarts, so old cursors are recognisably from a lost log', async () => {
    broker = memoryBroker()
    const before = await broker.publish('a', json(1))
    const restarted = memoryBroker()
    const again = await restarted.publish('a', json(1))
    expect(cursorEpoch(again.cursor)).not.toBe(cursorEpoch(before.cursor))
    expect((await restarted.read('a', { since: before.cursor })).recovered).toBe(false)
    await restarted.close()
  })

  it('trims to exactly history.size', async () => {
    broker = memoryBroker({ history: { size: 3 } })
    const { epoch } = await broker.read('a')
    for (let i = 1; i <= 5; i++) await broker.publish('a', json(i))
    const fromStart = await broker.read('a', { since: `${epoch}:0` })
    expect(offsets(fromStart.messages)).toEqual([3, 4, 5])
    expect(fromStart.from).toBe(`${epoch}:2`)
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

  it('frees an idle empty log only after a whole TTL, and never while someone listens', async () => {
    // rememberIdle 0: a freed log is forgotten whole, so the new epoch shows it was freed.
    broker = memoryBroker({ history: { ttlMs: 1000, rememberIdle: 0 } })
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

  it('a freed idle log keeps its epoch and head, so a caught-up client resumes without a false gap', async () => {
    broker = memoryBroker({ history: { ttlMs: 1000 } })
    const { epoch } = await broker.read('quiet')
    const first = await broker.publish('quiet', json('a'))
    const last = await broker.publish('quiet', json('b'))
    // The messages expire, then the empty log idles for a whole TTL and is freed by the sweep.
    vi.advanceTimersByTime(5000)
    const caughtUp = await broker.read('quiet', { since: last.cursor })
    expect(caughtUp).toMatchObject({ epoch, recovered: true, head: last.cursor, messages: [] })
    // Someone who missed 'b' is still told: it expired before they came back.
    expect(await broker.read('quiet', { since: first.cursor })).toMatchObject({ epoch, recovered: false })
    expect(offsets([await broker.publish('quiet', json('c'))])).toEqual([3])
  })

  it('remembers at most history.rememberIdle freed logs, oldest forgotten first', async () => {
    broker = memoryBroker({ history: { ttlMs: 1000, rememberIdle: 1 } })
    const older = (await broker.publish('older', json(1))).cursor
    vi.advanceTimersByTime(1)
    const newer = (await broker.publish('newer', json(1))).cursor
    vi.advanceTimersByTime(5000)
    expect(await broker.read('newer', { since: newer })).toMatchObject({ recovered: true })
    const forgotten = await broker.read('older', { since: older })
    expect(forgotten.recovered).toBe(false)
    expect(forgotten.epoch).not.toBe(cursorEpoch(older))
    expect(() => memoryBroker({ history: { rememberIdle: -1 } })).toThrow(/rememberIdle/)
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
