import { randomUUID } from 'node:crypto'
import { parseCursor } from '@holdfast/protocol'
import type { Cluster, Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import type { RedisBroker } from '../../src/index'
import { eventually } from './fixtures'

export interface FailoverHarness {
  /** A broker on the Redis under test whose connections carry `connectionName`. */
  broker(keyPrefix: string, connectionName: string): RedisBroker
  /** A client for reading and rewriting keys (a cluster client routes them to their slot). */
  data(): Redis | Cluster
  /** A connection to the node that holds `key`, for CLIENT LIST / CLIENT KILL. */
  nodeOf(key: string): Promise<Redis>
  /**
   * A broker that reaches Redis through proxies of its own: `isolate(key)` cuts it off from the node that
   * holds `key` (its connections there drop and cannot come back) until `restore()`.
   */
  brokerBehindProxy(keyPrefix: string): Promise<{
    broker: RedisBroker
    isolate(key: string): Promise<void>
    restore(): void
    close(): Promise<void>
  }>
}

const json = (v: unknown) => JSON.stringify(v)

/**
 * Kills the connections named `name` on one node: the subscriber connection (Pub/Sub flag P) or the
 * others. Resolves with how many were killed.
 */
export async function killConnections(node: Redis, name: string, which: 'subscriber' | 'commands') {
  const list = String(await node.client('LIST'))
  let killed = 0
  for (const line of list.split('\n')) {
    const fields = Object.fromEntries(line.split(' ').map((f) => f.split('=') as [string, string]))
    if (fields.name !== name) continue
    const pubsub = /P/.test(fields.flags ?? '')
    if ((which === 'subscriber') !== pubsub) continue
    killed += Number(await node.client('KILL', 'ID', fields.id!))
  }
  return killed
}

/**
 * Puts a channel's keys in the state a promoted replica that missed the newest entries would hold:
 * the stream as it was up to `keepThrough`, its metadata with that head. What replication loses, it loses
 * for the stream and its metadata alike (one script's writes replicate as one transaction).
 */
export async function rollBack(
  data: Redis | Cluster,
  keyPrefix: string,
  channel: string,
  keepThrough: string,
) {
  const id = keepThrough.slice(keepThrough.indexOf(':') + 1)
  const log = `${keyPrefix}{${channel}}:log`
  const meta = `${keyPrefix}{${channel}}:meta`
  const kept = await data.xrange(log, '-', id)
  const ttl = await data.pttl(log)
  const transaction = data.multi().del(log)
  for (const [entryId, fields] of kept) transaction.xadd(log, entryId, ...fields)
  transaction.pexpire(log, ttl).hset(meta, 'head', id)
  await transaction.exec()
}

/**
 * What a Redis broker promises when Redis loses acknowledged writes (a failover to a replica that had not
 * received them, or a restart from an older append-only file): clients are told, never left silently short.
 * Run against one Redis and a Redis Cluster alike.
 */
export function describeFailoverDetection(name: string, makeHarness: () => FailoverHarness): void {
  describe(`${name}: acknowledged messages lost by Redis`, () => {
    const brokers: RedisBroker[] = []
    let harness: FailoverHarness
    const setUp = (connectionName = `holdfast-test-${randomUUID()}`) => {
      harness ??= makeHarness()
      const keyPrefix = `holdfast-test:${randomUUID()}:`
      const create = (connection = connectionName) => {
        const b = harness.broker(keyPrefix, connection)
        brokers.push(b)
        return b
      }
      return { keyPrefix, connectionName, create, data: harness.data() }
    }
    afterEach(async () => {
      await Promise.all(brokers.splice(0).map((b) => b.close()))
    })

    it('says recovered:false to a cursor the log no longer holds, even once newer messages follow it', async () => {
      const { keyPrefix, create, data } = setUp()
      const b = create()
      const cursors: string[] = []
      for (let i = 1; i <= 5; i++) cursors.push((await b.publish('gone', json(i))).cursor)
      await rollBack(data, keyPrefix, 'gone', cursors[2]!)
      // Past the head: the protocol's rule.
      expect((await b.read('gone', { since: cursors[4] })).recovered).toBe(false)
      const six = await b.publish('gone', json(6))
      expect(parseCursor(six.cursor)!.major).toBeGreaterThanOrEqual(parseCursor(cursors[4])!.major)
      // Within the head now, but the entry after it does not point back at it: something is missing.
      for (const lost of [cursors[3], cursors[4]]) {
        const read = await b.read('gone', { since: lost })
        expect(read.recovered).toBe(false)
        expect(read.messages.map((m) => m.json)).toEqual(['1', '2', '3', '6'])
      }
      // The kept chain still resumes exactly.
      expect((await b.read('gone', { since: cursors[1] })).messages.map((m) => m.json)).toEqual(['3', '6'])
    })

    it('a process that delivered the lost messages live records the loss and resyncs the channel when its subscriber comes back', async () => {
      const { keyPrefix, connectionName, create, data } = setUp()
      const publisher = create(`${connectionName}-publisher`)
      const subscriber = create()
      const resyncs: Array<string[] | undefined> = []
      subscriber.onResync((channels) => resyncs.push(channels && [...channels].sort()))
      const seen: string[] = []
      await subscriber.subscribe('ledger', (m) => seen.push(m.json))
      await subscriber.subscribe('other', () => {})
      const cursors: string[] = []
      for (let i = 1; i <= 5; i++) cursors.push((await publisher.publish('ledger', json(i))).cursor)
      await eventually(() => expect(seen).toEqual(['1', '2', '3', '4', '5']))
      await rollBack(data, keyPrefix, 'ledger', cursors[2]!)
      // Before the subscriber's process notices, a resume from before the loss cannot be told.
      expect((await publisher.read('ledger', { since: cursors[1] })).recovered).toBe(true)

      const node = await harness.nodeOf(`${keyPrefix}{ledger}:meta`)
      expect(await killConnections(node, connectionName, 'subscriber')).toBeGreaterThan(0)
      await eventually(() => expect(resyncs.flat()).toContain('ledger'), 10_000)

      // Every resume from before what it saw is told; from exactly what it saw, nothing is missing.
      for (const since of [cursors[0], cursors[1], cursors[2], cursors[3]]) {
        const read = await publisher.read('ledger', { since })
        expect(read.recovered).toBe(false)
        expect(read).toMatchObject({ from: cursors[4], messages: [] })
      }
      expect(await publisher.read('ledger', { since: cursors[4] })).toMatchObject({
        recovered: true,
        head: cursors[4],
      })
      const six = await publisher.publish('ledger', json(6))
      expect(await publisher.read('ledger', { since: cursors[4] })).toMatchObject({
        recovered: true,
        messages: [expect.objectContaining({ cursor: six.cursor })],
      })
      const behind = await publisher.read('ledger', { since: cursors[1] })
      expect(behind).toMatchObject({ recovered: false, from: cursors[4] })
      expect(behind.messages.map((m) => m.json)).toEqual(['6'])
      await eventually(() => expect(seen.at(-1)).toBe('6'))
    })

    it('records the loss even when messages were written after it before the check ran', async () => {
      const { keyPrefix, connectionName, create, data } = setUp()
      const publisher = create(`${connectionName}-publisher`)
      const behind = await harness.brokerBehindProxy(keyPrefix)
      brokers.push(behind.broker)
      const subscriber = behind.broker
      const resynced: string[] = []
      subscriber.onResync((channels) => resynced.push(...(channels ?? ['(all)'])))
      const seen: string[] = []
      await subscriber.subscribe('tape', (m) => seen.push(m.json))
      const cursors: string[] = []
      for (let i = 1; i <= 5; i++) cursors.push((await publisher.publish('tape', json(i))).cursor)
      await eventually(() => expect(seen).toEqual(['1', '2', '3', '4', '5']))
      // The subscriber's process loses the node; the node comes back without 4 and 5, and takes a write.
      await behind.isolate(`${keyPrefix}{tape}:meta`)
      await rollBack(data, keyPrefix, 'tape', cursors[2]!)
      const six = await publisher.publish('tape', json(6))
      behind.restore()
      await eventually(() => expect(resynced).toContain('tape'), 10_000)
      // Resuming from what the subscriber's clients saw continues with what was written after the loss…
      const fromSeen = await publisher.read('tape', { since: cursors[4] })
      expect(fromSeen).toMatchObject({ recovered: true })
      expect(fromSeen.messages.map((m) => m.cursor)).toEqual([six.cursor])
      // …and resuming from before the loss is told, replaying only what follows it.
      for (const since of [cursors[1], cursors[2], cursors[3]]) {
        const read = await publisher.read('tape', { since })
        expect(read).toMatchObject({ recovered: false, from: cursors[4] })
        expect(read.messages.map((m) => m.json)).toEqual(['6'])
      }
      await behind.close()
    })

    it('a process that only published the lost messages records the loss once its connection comes back', async () => {
      const { keyPrefix, connectionName, create, data } = setUp()
      const publisher = create()
      const reader = create(`${connectionName}-reader`)
      const cursors: string[] = []
      for (let i = 1; i <= 4; i++) cursors.push((await publisher.publish('orders', json(i))).cursor)
      await rollBack(data, keyPrefix, 'orders', cursors[1]!)
      expect((await reader.read('orders', { since: cursors[0] })).recovered).toBe(true)
      const node = await harness.nodeOf(`${keyPrefix}{orders}:meta`)
      expect(await killConnections(node, connectionName, 'commands')).toBeGreaterThan(0)
      await eventually(
        async () => expect((await reader.read('orders', { since: cursors[0] })).recovered).toBe(false),
        10_000,
      )
      expect(await reader.read('orders', { since: cursors[3] })).toMatchObject({ recovered: true })
    })
  })
}
