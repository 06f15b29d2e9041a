import { randomUUID } from 'node:crypto'
import { parseCursor } from '@holdfast/protocol'
import { Cluster, Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest'
import { hashSlot } from '../src/broker/hashSlot'
import { type RedisBroker, type RedisBrokerOptions, redisBroker } from '../src/index'
import { describeBrokerContract } from './helpers/brokerContract'
import { describeFailoverDetection } from './helpers/failoverDetection'
import { eventually } from './helpers/fixtures'
import { describePresenceContract } from './helpers/presenceContract'
import { createTcpProxy, type TcpProxy } from './helpers/tcpProxy'

// The Redis broker on a local Redis Cluster (three masters, three replicas; test-support/redisCluster.mjs,
// started by redisClusterGlobalSetup.ts). Every test uses its own key prefix.

const nodes = inject('redisClusterNodes')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const json = (v: unknown) => JSON.stringify(v)
const freshPrefix = () => `holdfast-test:${randomUUID()}:`
const portOf = (key: string) => Number(key.slice(key.lastIndexOf(':') + 1))

const cleanups: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function broker(options: Partial<RedisBrokerOptions> & { keyPrefix: string }): RedisBroker {
  const b = redisBroker({ cluster: nodes!, ...options })
  cleanups.push(() => b.close())
  return b
}

const standalone = new Map<number, Redis>()
/** A plain connection to one node, for CLUSTER, CLIENT and PUBSUB commands. */
function node(port: number): Redis {
  let redis = standalone.get(port)
  if (!redis) {
    redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 2 })
    standalone.set(port, redis)
  }
  return redis
}

let dataClient: Cluster | undefined
/** A cluster client of the test's own, for reading and rewriting keys. */
function data(): Cluster {
  dataClient ??= new Cluster(nodes!.map((n) => ({ host: '127.0.0.1', port: portOf(n) })))
  return dataClient
}

afterAll(async () => {
  dataClient?.disconnect()
  for (const redis of standalone.values()) redis.disconnect()
})

/** The master that serves `key`'s slot, from the cluster itself. */
async function ownerOf(key: string): Promise<number> {
  const slot = hashSlot(key)
  const ranges = await node(portOf(nodes![0]!)).cluster('SLOTS')
  const range = ranges.find(([from, to]) => slot >= from && slot <= to)
  if (!range?.[2]) throw new Error(`no node serves slot ${slot}`)
  return range[2][1]
}

/** A TCP proxy in front of every node, and the natMap that sends a cluster client through them. */
async function proxiesForEveryNode() {
  const proxies = new Map<number, TcpProxy>()
  const natMap: Record<string, { host: string; port: number }> = {}
  for (const seed of nodes!) {
    const proxy = await createTcpProxy({ port: portOf(seed) })
    proxies.set(portOf(seed), proxy)
    natMap[seed] = { host: '127.0.0.1', port: proxy.port }
  }
  return { natMap, proxies }
}

/** Channel names whose slots live on `count` different masters. */
async function channelsOnDistinctMasters(count: number): Promise<Array<{ channel: string; port: number }>> {
  const found = new Map<number, string>()
  for (let i = 0; found.size < count && i < 1000; i++) {
    const channel = `shard-${i}`
    const port = await ownerOf(`{${channel}}`)
    if (!found.has(port)) found.set(port, channel)
  }
  return [...found].map(([port, channel]) => ({ channel, port }))
}

describe.skipIf(!nodes)('redisBroker on a Redis Cluster', () => {
  describeBrokerContract('redisBroker (Redis Cluster)', () => ({
    create: (options) => redisBroker({ cluster: nodes!, keyPrefix: freshPrefix(), ...options }),
    advance: async (ms) => {
      await sleep(ms)
    },
    trimSlack: 150,
  }))

  describePresenceContract('redisBroker (Redis Cluster)', () => ({
    create: () => {
      const keyPrefix = freshPrefix()
      return {
        broker: redisBroker({ cluster: nodes!, keyPrefix }),
        twin: () => redisBroker({ cluster: nodes!, keyPrefix }),
      }
    },
    advance: async (ms) => {
      await sleep(ms)
    },
  }))

  describeFailoverDetection('redisBroker (Redis Cluster)', () => ({
    broker: (keyPrefix, connectionName) =>
      redisBroker({ cluster: nodes!, keyPrefix, clusterOptions: { redisOptions: { connectionName } } }),
    data,
    nodeOf: async (key) => node(await ownerOf(key)),
    brokerBehindProxy: async (keyPrefix) => {
      const { natMap, proxies } = await proxiesForEveryNode()
      const b = redisBroker({
        cluster: Object.values(natMap).map((n) => `${n.host}:${n.port}`),
        keyPrefix,
        clusterOptions: { natMap },
      })
      let isolated: TcpProxy | undefined
      return {
        broker: b,
        isolate: async (key) => {
          isolated = proxies.get(await ownerOf(key))!
          isolated.refuse(true)
          isolated.cut()
        },
        restore: () => isolated?.refuse(false),
        close: async () => {
          await Promise.all([...proxies.values()].map((p) => p.close()))
        },
      }
    },
  }))

  it('keeps every key of a channel and its live channel in the hash slot of the channel name', async () => {
    const keyPrefix = freshPrefix()
    const b = broker({ keyPrefix })
    await b.publish('room.42', json(1), { idempotencyKey: 'k-1' })
    const any = node(portOf(nodes![0]!))
    const names = ['room.42', 'a', 'user.alice@example.com/inbox', 'x_y-z.~:1', 'ü'.repeat(3)]
    for (const channel of names) {
      const expected = Number(await any.cluster('KEYSLOT', channel))
      for (const suffix of ['meta', 'log', 'live', 'idem:k-1'])
        expect([channel, suffix, hashSlot(`${keyPrefix}{${channel}}:${suffix}`)]).toEqual([
          channel,
          suffix,
          expected,
        ])
      expect(Number(await any.cluster('KEYSLOT', `${keyPrefix}{${channel}}:meta`))).toBe(expected)
    }
    const owner = node(await ownerOf(`{room.42}`))
    expect(await owner.exists(`${keyPrefix}{room.42}:meta`, `${keyPrefix}{room.42}:log`)).toBe(2)
    expect(await owner.exists(`${keyPrefix}{room.42}:idem:k-1`)).toBe(1)
  })

  it('notifies through sharded Pub/Sub on the shard that owns the channel, never the classic bus', async () => {
    const keyPrefix = freshPrefix()
    const b = broker({ keyPrefix })
    const seen: string[] = []
    await b.subscribe('ticker', (m) => seen.push(m.json))
    const live = `${keyPrefix}{ticker}:live`
    const owner = node(await ownerOf(live))
    expect(await owner.call('PUBSUB', 'SHARDNUMSUB', live)).toEqual([live, 1])
    expect(await owner.call('PUBSUB', 'NUMSUB', live)).toEqual([live, 0])
    // Another process listening on the same shard channel hears exactly the stored message.
    const listener = new Redis({ host: '127.0.0.1', port: await ownerOf(live) })
    cleanups.push(() => listener.disconnect())
    const heard: string[] = []
    listener.on('smessage', (_name: string, payload: string) => heard.push(payload))
    await listener.ssubscribe(live)
    const { cursor } = await b.publish('ticker', json({ price: 7 }))
    await eventually(() => expect(heard).toEqual([`${cursor}\n{"price":7}`]))
    await eventually(() => expect(seen).toEqual(['{"price":7}']))
  })

  it('shares logs across processes: channels on every shard resume anywhere, and a key publishes once', async () => {
    const keyPrefix = freshPrefix()
    const a = broker({ keyPrefix })
    const b = broker({ keyPrefix })
    const spread = await channelsOnDistinctMasters(3)
    expect(spread).toHaveLength(3)
    for (const { channel } of spread) {
      const seenByB: string[] = []
      await b.subscribe(channel, (m) => seenByB.push(m.cursor))
      const first = await a.publish(channel, json(1))
      const second = await b.publish(channel, json(2))
      const resumed = await b.read(channel, { since: first.cursor })
      expect(resumed.recovered).toBe(true)
      expect(resumed.messages.map((m) => m.cursor)).toEqual([second.cursor])
      await eventually(() => expect(seenByB).toEqual([first.cursor, second.cursor]))
      const racers = await Promise.all([
        a.publish(channel, json('pay'), { idempotencyKey: 'pay-1' }),
        b.publish(channel, json('pay'), { idempotencyKey: 'pay-1' }),
      ])
      expect(racers[0].cursor).toBe(racers[1].cursor)
      expect(racers.filter((r) => !r.duplicate)).toHaveLength(1)
    }
  })

  describe('when the subscriber connection to one shard drops', () => {
    it('resyncs only that shard’s channels, before delivering anything newer on them', async () => {
      const keyPrefix = freshPrefix()
      const [dropped, steady] = await channelsOnDistinctMasters(2)
      // Broker B reaches every node through a proxy of its own (natMap), so one node can vanish for it alone.
      const { natMap, proxies } = await proxiesForEveryNode()
      cleanups.push(() => Promise.all([...proxies.values()].map((p) => p.close())))
      const a = broker({ keyPrefix })
      const b = broker({
        keyPrefix,
        cluster: Object.values(natMap).map((n) => `${n.host}:${n.port}`),
        clusterOptions: { natMap },
      })
      await b.ready(10_000)
      const log: Array<string | number> = []
      const steadyLog: number[] = []
      const resyncs: string[][] = []
      b.onResync((channels) => {
        resyncs.push([...(channels ?? ['(all)'])])
        log.push('resync')
      })
      await b.subscribe(dropped!.channel, (m) => log.push(JSON.parse(m.json) as number))
      await b.subscribe(steady!.channel, (m) => steadyLog.push(JSON.parse(m.json) as number))
      await a.publish(dropped!.channel, json(1))
      await a.publish(dropped!.channel, json(2))
      await eventually(() => expect(log).toEqual([1, 2]))

      const proxy = proxies.get(dropped!.port)!
      proxy.refuse(true)
      proxy.cut()
      await sleep(50)
      // Published while B cannot hear that shard: B's live feed never sees these.
      for (let i = 3; i <= 5; i++) await a.publish(dropped!.channel, json(i))
      let next = 6
      let steadyNext = 1
      let flooding = true
      const flood = (async () => {
        while (flooding && next <= 2000) {
          const batch = []
          for (let k = 0; k < 10; k++) {
            batch.push(a.publish(dropped!.channel, json(next++)))
            batch.push(a.publish(steady!.channel, json(steadyNext++)))
          }
          await Promise.all(batch)
          await sleep(1)
        }
      })()
      await sleep(30)
      proxy.batchDownstream(40)
      proxy.refuse(false)
      await eventually(() => expect(log).toContain('resync'), 10_000)
      await sleep(50)
      flooding = false
      await flood
      const at = log.indexOf('resync')
      expect(log.slice(0, at)).toEqual([1, 2])
      expect(log.slice(at + 1).every((x) => typeof x === 'number' && x > 5)).toBe(true)
      await eventually(() => expect(log.at(-1)).toBe(next - 1))
      expect(resyncs).toEqual([[dropped!.channel]])
      // The other shard never stopped: every message, in order, no resync.
      await eventually(() => expect(steadyLog).toHaveLength(steadyNext - 1))
      expect(steadyLog).toEqual(Array.from({ length: steadyNext - 1 }, (_, i) => i + 1))
    }, 30_000)
  })

  it('keeps a channel working while its slot migrates to another master', async () => {
    const keyPrefix = freshPrefix()
    const channel = 'migrating'
    const slot = hashSlot(`{${channel}}`)
    const a = broker({ keyPrefix })
    const b = broker({ keyPrefix })
    const resynced: string[] = []
    b.onResync((channels) => resynced.push(...(channels ?? [])))
    const live: number[] = []
    await b.subscribe(channel, (m) => live.push(JSON.parse(m.json) as number))
    const { epoch } = await a.read(channel)

    const published: number[] = []
    const failures: string[] = []
    let next = 1
    let publishing = true
    // A client's publish loop: every message has an idempotency key, and a failed publish is retried with it.
    const publisher = (async () => {
      while (publishing && next <= 5000) {
        const n = next++
        for (let attempt = 0; ; attempt++) {
          try {
            await a.publish(channel, json(n), { idempotencyKey: `m-${n}` })
            published.push(n)
            break
          } catch (error) {
            failures.push(String((error as Error).message))
            if (attempt > 50) throw error
            await sleep(20)
          }
        }
        await sleep(2)
      }
    })()
    await eventually(() => expect(live.length).toBeGreaterThan(20), 10_000)

    const source = await ownerOf(`{${channel}}`)
    const masters = [...new Set((await node(source).cluster('SLOTS')).map((r) => r[2]![1]))]
    const target = masters.find((port) => port !== source)!
    const sourceId = String(await node(source).cluster('MYID'))
    const targetId = String(await node(target).cluster('MYID'))
    await node(target).cluster('SETSLOT', slot, 'IMPORTING', sourceId)
    await node(source).cluster('SETSLOT', slot, 'MIGRATING', targetId)
    for (;;) {
      const keys = (await node(source).cluster('GETKEYSINSLOT', slot, 100)) as string[]
      if (keys.length === 0) break
      await node(source).migrate('127.0.0.1', target, '', 0, 5000, 'KEYS', ...keys)
    }
    for (const port of [target, source, ...masters.filter((p) => p !== source && p !== target)])
      await node(port).cluster('SETSLOT', slot, 'NODE', targetId)
    expect(await ownerOf(`{${channel}}`)).toBe(target)

    // Live delivery follows the slot: messages published from now on reach B live.
    const movedAt = next
    await eventually(() => expect(live.at(-1)).toBeGreaterThan(movedAt + 20), 15_000)
    publishing = false
    await publisher
    expect(await node(source).cluster('COUNTKEYSINSLOT', slot)).toBe(0)
    expect(Number(await node(target).cluster('COUNTKEYSINSLOT', slot))).toBeGreaterThan(0)
    // B was told to re-read the channel (its shard unsubscribed it when the slot left).
    expect(resynced).toContain(channel)
    // History holds every message once, in publish order, and resumes exactly from the start.
    const all = await a.read(channel, { since: `${epoch}:0` })
    expect(all.recovered).toBe(true)
    expect(all.messages.map((m) => JSON.parse(m.json))).toEqual(published)
    expect(published).toEqual(Array.from({ length: published.length }, (_, i) => i + 1))
    // Live messages arrived in order, without duplicates.
    for (let i = 1; i < live.length; i++) expect(live[i]!).toBeGreaterThan(live[i - 1]!)
    const last = all.messages.at(-1)!
    expect(parseCursor(last.cursor)!.epoch).toBe(epoch)
  }, 45_000)

  it('waitForReplicas: a publish resolves only once a replica acknowledged it (Redis WAIT)', async () => {
    const keyPrefix = freshPrefix()
    const b = broker({ keyPrefix, waitForReplicas: { replicas: 1, timeoutMs: 60_000 } })
    await b.publish('durable', json(1))
    const masterPort = await ownerOf(`{durable}`)
    const master = node(masterPort)
    const masterId = String(await master.cluster('MYID'))
    const replicaLine = String((await master.cluster('REPLICAS', masterId)) as unknown as string[])
    const replicaPort = Number(/:(\d+)@/.exec(replicaLine)![1])
    const replicaPid = Number(/process_id:(\d+)/.exec(await node(replicaPort).info('server'))![1])
    process.kill(replicaPid, 'SIGSTOP')
    let settled = false
    let pending: Promise<unknown> | undefined
    try {
      pending = b.publish('durable', json(2)).finally(() => {
        settled = true
      })
      // Stored on the master, and the broker's connection is parked in WAIT there.
      await eventually(async () => {
        expect(await master.xlen(`${keyPrefix}{durable}:log`)).toBe(2)
        expect(String(await master.client('LIST'))).toMatch(/ cmd=wait /)
      }, 10_000)
      expect(settled).toBe(false)
    } finally {
      process.kill(replicaPid, 'SIGCONT')
    }
    await pending
    expect(settled).toBe(true)
    await eventually(async () => {
      const info = await master.info('replication')
      expect(info).toMatch(/slave0:.*state=online/)
    }, 10_000)
  }, 30_000)

  it('fails fast with a clear message when no node can be reached', async () => {
    const b = redisBroker({
      cluster: ['127.0.0.1:1', 'redis://:hunter2-secret@127.0.0.1:2'],
      clusterOptions: { clusterRetryStrategy: () => 50 },
    })
    cleanups.push(() => b.close())
    const error = await b.ready(300).then(
      () => null,
      (e: Error) => e,
    )
    expect(error?.message).toMatch(/could not reach Redis at redis-cluster 127\.0\.0\.1:1,127\.0\.0\.1:2/)
    expect(error?.message).not.toContain('hunter2')
    expect(() => redisBroker({ cluster: [] })).toThrow(/at least one node/)
    expect(() => redisBroker({ url: 'redis://x', cluster: ['127.0.0.1:7000'] })).toThrow(/either a url/)
    expect(() =>
      redisBroker({ cluster: ['127.0.0.1:7000'], waitForReplicas: { replicas: 0, timeoutMs: 1 } }),
    ).toThrow(/waitForReplicas/)
  })
})
