import { parseCursor } from '@holdfast/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import type { Broker, StoredMessage } from '../../src/index'
import { type MemberRecord, memberId } from '../../src/presence/PresenceStore'

export interface PresenceHarness {
  /** A fresh broker whose channels no other test sees; `twin()` gives a second one on the same backend. */
  create(): { broker: Broker; twin(): Broker }
  /** Lets `ms` pass: a manual clock, or real waiting for Redis (whose scripts read Redis' own clock). */
  advance(ms: number): Promise<void>
}

const record = (clientId: string, connectionId: string, info?: unknown): MemberRecord => ({
  id: memberId(clientId, connectionId),
  clientId,
  connectionId,
  ...(info === undefined ? {} : { info: JSON.stringify(info) }),
})
const LONG = 600_000
const enterOptions = (
  owner: string,
  extra: { ttlMs?: number; maxMembers?: number; fixedInfo?: boolean } = {},
) => ({
  owner,
  ttlMs: extra.ttlMs ?? LONG,
  maxMembers: extra.maxMembers ?? 100,
  fixedInfo: extra.fixedInfo ?? false,
})

/** Waits for a condition fed by live delivery (synchronous in memory, a Pub/Sub round trip with Redis). */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * What every presence store promises (src/presence/PresenceStore.ts), run against each broker's: each
 * change of the members and its event are one step, a leave is appended once whoever sweeps, deadlines are
 * honoured (released members leave after the grace, re-entered ones do not), and the bounds hold.
 */
export function describePresenceContract(name: string, makeHarness: () => PresenceHarness): void {
  describe(`${name}: the PresenceStore contract`, () => {
    const brokers: Broker[] = []
    let harness: PresenceHarness
    let channelNumber = 0
    const setUp = async () => {
      harness ??= makeHarness()
      const made = harness.create()
      brokers.push(made.broker)
      const channel = `room.${++channelNumber}`
      const events: Array<{ cursor: string; data: any }> = []
      const stop = await made.broker.subscribe(`${channel}~presence`, (m: StoredMessage) =>
        events.push({ cursor: m.cursor, data: JSON.parse(m.json) }),
      )
      const twin = () => {
        const b = made.twin()
        brokers.push(b)
        return b.presence!
      }
      return { broker: made.broker, store: made.broker.presence!, channel, events, stop, twin }
    }
    afterEach(async () => {
      await Promise.all(brokers.splice(0).map((b) => b.close()))
    })

    it('enter appends one join to <channel>~presence, and a snapshot stands at that event', async () => {
      const { store, channel, events } = await setUp()
      expect(await store.enter(channel, record('alice', 'conn0001', { n: 'A' }), enterOptions('o1'))).toBe(
        'joined',
      )
      await until(() => events.length === 1, 'the join')
      expect(events[0]!.data).toEqual({
        event: 'join',
        member: { clientId: 'alice', connectionId: 'conn0001', info: { n: 'A' } },
        count: 1,
        clients: 1,
      })
      // Event cursors have no minor part: `<n>-<m>` with m > 0 is left to snapshot pages.
      expect(parseCursor(events[0]!.cursor)!.minor).toBe(0)
      const snapshot = await store.snapshot(channel, 10)
      expect(snapshot.head).toBe(events[0]!.cursor)
      expect(snapshot.members.map((m) => JSON.parse(m))).toEqual([events[0]!.data.member])
      expect(snapshot).toMatchObject({ count: 1, clients: 1, epoch: parseCursor(events[0]!.cursor)!.epoch })
    })

    it('entering again (a reconnect, another process) emits nothing and keeps the member', async () => {
      const { store, channel, events, twin } = await setUp()
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1'))
      expect(await twin().enter(channel, record('alice', 'conn0001'), enterOptions('o2'))).toBe('present')
      await store.release(channel, memberId('alice', 'conn0001'), 'o1', 0)
      expect(await store.sweep(channel)).toBeGreaterThan(0)
      await until(() => events.length >= 1, 'the join')
      expect(events.map((e) => e.data.event)).toEqual(['join'])
      expect((await store.snapshot(channel, 10)).count).toBe(1)
    })

    it('a released member leaves (expired) once after the grace; one entered again does not', async () => {
      const { store, channel, events, twin } = await setUp()
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1'))
      await store.enter(channel, record('bob', 'conn0002'), enterOptions('o2'))
      await store.release(channel, memberId('alice', 'conn0001'), 'o1', 50)
      await store.release(channel, memberId('bob', 'conn0002'), 'o2', LONG)
      await store.enter(channel, record('bob', 'conn0002'), enterOptions('o3'))
      await harness.advance(100)
      // Two processes sweep at once: each leave is still appended once.
      const other = twin()
      await Promise.all([store.sweep(channel), other.sweep(channel), store.sweep(channel)])
      await until(() => events.length === 3, 'the leave')
      expect(events.map((e) => [e.data.event, e.data.member.clientId, e.data.reason])).toEqual([
        ['join', 'alice', undefined],
        ['join', 'bob', undefined],
        ['leave', 'alice', 'expired'],
      ])
      expect(events[2]!.data).toMatchObject({ count: 1, clients: 1 })
      expect((await store.snapshot(channel, 10)).members.map((m) => JSON.parse(m).clientId)).toEqual(['bob'])
    })

    it('only the owner releases or refreshes; an expired member is not brought back by a refresh', async () => {
      const { store, channel, events } = await setUp()
      const id = memberId('alice', 'conn0001')
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1', { ttlMs: 50 }))
      await store.release(channel, id, 'someone-else', 0)
      await store.refresh(channel, [{ id, owner: 'someone-else' }], LONG)
      await harness.advance(100)
      await store.refresh(channel, [{ id, owner: 'o1' }], LONG)
      await store.sweep(channel)
      await until(() => events.length === 2, 'the leave')
      expect(events[1]!.data).toMatchObject({ event: 'leave', reason: 'expired', count: 0, clients: 0 })
    })

    it('a refresh sets the deadline of members its owner holds (any member, without an owner)', async () => {
      const { store, channel, events } = await setUp()
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1'))
      await store.enter(channel, record('bob', 'conn0002'), enterOptions('o2'))
      await store.enter(channel, record('carol', 'conn0003'), enterOptions('o3'))
      // Deadlines move to now + 50 ms, so the members leave: the refresh set them (but not carol's).
      await store.refresh(
        channel,
        [
          { id: memberId('alice', 'conn0001'), owner: 'o1' },
          { id: memberId('bob', 'conn0002') },
          { id: memberId('carol', 'conn0003'), owner: 'o1' },
        ],
        50,
      )
      await harness.advance(100)
      await store.sweep(channel)
      await until(() => events.length === 5, 'two leaves')
      expect(events.slice(3).map((e) => [e.data.event, e.data.member.clientId])).toEqual([
        ['leave', 'alice'],
        ['leave', 'bob'],
      ])
      expect((await store.snapshot(channel, 10)).count).toBe(1)
    })

    it('leave is immediate (reason left), once', async () => {
      const { store, channel, events } = await setUp()
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1'))
      expect(await store.leave(channel, memberId('alice', 'conn0001'))).toBe(true)
      expect(await store.leave(channel, memberId('alice', 'conn0001'))).toBe(false)
      await until(() => events.length === 2, 'the leave')
      expect(events[1]!.data).toMatchObject({ event: 'leave', reason: 'left', count: 0, clients: 0 })
    })

    it('maxMembers refuses a new member, never one already present', async () => {
      const { store, channel } = await setUp()
      expect(await store.enter(channel, record('a', 'conn0001'), enterOptions('o1', { maxMembers: 2 }))).toBe(
        'joined',
      )
      expect(await store.enter(channel, record('b', 'conn0002'), enterOptions('o2', { maxMembers: 2 }))).toBe(
        'joined',
      )
      expect(await store.enter(channel, record('c', 'conn0003'), enterOptions('o3', { maxMembers: 2 }))).toBe(
        'full',
      )
      expect(await store.enter(channel, record('a', 'conn0001'), enterOptions('o4', { maxMembers: 2 }))).toBe(
        'present',
      )
      expect((await store.snapshot(channel, 10)).count).toBe(2)
    })

    it('info declared before entering is the join’s; declared after, one update (none when unchanged)', async () => {
      const { store, channel, events } = await setUp()
      expect(await store.declare(channel, record('alice', 'conn0001', { n: 'A' }), LONG)).toBe('pending')
      await store.enter(channel, record('alice', 'conn0001'), enterOptions('o1'))
      expect(await store.declare(channel, record('alice', 'conn0001', { n: 'A' }), LONG)).toBe('unchanged')
      expect(await store.declare(channel, record('alice', 'conn0001', { n: 'B' }), LONG)).toBe('updated')
      await until(() => events.length === 2, 'join and update')
      expect(events.map((e) => [e.data.event, e.data.member.info])).toEqual([
        ['join', { n: 'A' }],
        ['update', { n: 'B' }],
      ])
    })

    it("the token's info (fixedInfo) wins over a pending one, and replaces the info on the next enter", async () => {
      const { store, channel, events } = await setUp()
      await store.declare(channel, record('alice', 'conn0001', { n: 'declared' }), LONG)
      await store.enter(
        channel,
        record('alice', 'conn0001', { n: 'token' }),
        enterOptions('o1', { fixedInfo: true }),
      )
      await store.enter(
        channel,
        record('alice', 'conn0001', { n: 'token2' }),
        enterOptions('o2', { fixedInfo: true }),
      )
      await until(() => events.length === 2, 'join and update')
      expect(events.map((e) => [e.data.event, e.data.member.info])).toEqual([
        ['join', { n: 'token' }],
        ['update', { n: 'token2' }],
      ])
    })

    it('a snapshot is capped at its limit, by member id, and still counts every member and client', async () => {
      const { store, channel } = await setUp()
      for (const [client, conn] of [
        ['carol', 'conn0003'],
        ['alice', 'conn0001'],
        ['alice', 'conn0004'],
        ['bob', 'conn0002'],
      ] as const)
        await store.enter(channel, record(client, conn), enterOptions(conn))
      const snapshot = await store.snapshot(channel, 2)
      expect(snapshot.members.map((m) => JSON.parse(m).connectionId)).toEqual(['conn0001', 'conn0004'])
      expect(snapshot).toMatchObject({ count: 4, clients: 3 })
    })
  })
}
