import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { type RedisCluster, startRedisCluster } from '../../../../test-support/redisCluster.mjs'
import type { HoldfastClient, TransportName } from '../../src'
import { range, until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'
import {
  createRoundRobinProxy,
  type RoundRobinProxy,
  redisAvailable,
  type ServerProcess,
  startServerProcess,
} from '../helpers/processes'

// holdfast-server processes (the built CLI with --redis-cluster) on a local Redis Cluster of three masters
// and three replicas (test-support/redisCluster.mjs), with real clients in front of them.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const clients = nodeClients()
let processes: ServerProcess[] = []
let proxies: RoundRobinProxy[] = []

afterEach(async () => {
  clients.closeAll()
  await Promise.all(proxies.map((p) => p.close()))
  proxies = []
  await Promise.all(processes.map((p) => p.kill()))
  processes = []
})

function makeClient(url: string, transports: TransportName[]): HoldfastClient {
  return clients.create({
    url,
    transports,
    // Publishers that never subscribe are waited on to be connected: connect at once.
    lazy: false,
    fallback: { probeIntervalMs: 0 },
    heartbeat: { intervalMs: 1000, timeoutMs: 1000 },
  })
}

async function servers(cluster: RedisCluster, count: number, prefix = `cluster:${randomUUID()}:`) {
  const started = await Promise.all(
    Array.from({ length: count }, () =>
      startServerProcess({ redisCluster: cluster.seeds, redisPrefix: prefix }),
    ),
  )
  processes.push(...started)
  return started
}

async function proxyTo(ports: number[]): Promise<RoundRobinProxy> {
  const proxy = await createRoundRobinProxy(ports)
  proxies.push(proxy)
  return proxy
}

/** POST /publish with an idempotency key; resolves with the status and, on 200, the cursor. */
async function publishHttp(server: { url: string }, channel: string, data: unknown, key: string) {
  try {
    const response = await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'idempotency-key': key },
      body: JSON.stringify({ channel, data }),
    })
    const body = (await response.json().catch(() => ({}))) as { cursor?: string }
    return { status: response.status, cursor: body.cursor }
  } catch {
    return { status: 0, cursor: undefined }
  }
}

/** Publishes until one of the servers acknowledges it (same key every time), as a retrying client does. */
async function publishAcknowledged(targets: Array<{ url: string }>, channel: string, n: number) {
  const deadline = Date.now() + 60_000
  for (let attempt = 0; ; attempt++) {
    const answer = await publishHttp(targets[(n + attempt) % targets.length]!, channel, n, `${channel}-${n}`)
    if (answer.status === 200) return answer.cursor!
    if (Date.now() > deadline)
      throw new Error(`publish ${n} was never acknowledged (last status ${answer.status})`)
    await sleep(50)
  }
}

/**
 * Where subscribers start: just before a message `0` (which `subscriber` ignores), so even a long poll is
 * answered at once and every client reaches `connected` before the test publishes.
 */
async function startingPoint(targets: Array<{ url: string }>, channel: string): Promise<string> {
  const cursor = await publishAcknowledged(targets, channel, -1)
  await publishAcknowledged(targets, channel, 0)
  return cursor
}

/** A subscriber that records the numbers it receives, its gaps and its last cursor. */
function subscriber(url: string, transports: TransportName[], channel: string, since?: string) {
  const client = makeClient(url, transports)
  const gaps: unknown[] = []
  const received: number[] = []
  let cursor: string | undefined
  client.on('gap', (gap) => gaps.push(gap))
  client.subscribe(
    channel,
    (m) => {
      if (typeof m.data === 'number' && m.data > 0) received.push(m.data)
      cursor = m.cursor
    },
    since ? { since } : {},
  )
  return { client, gaps, received, cursor: () => cursor }
}

/** Polls an async check until it holds; bounded. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

async function allConnected(subs: Array<{ client: HoldfastClient }>): Promise<void> {
  await until(
    () => subs.every((s) => s.client.state.status === 'connected'),
    15_000,
    'every client connected',
  )
}

/** The master and replica serving `key`'s slot, as client ports. */
async function shardOf(cluster: RedisCluster, key: string): Promise<{ master: number; replica: number }> {
  const slot = Number(await cluster.command(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', key))
  for (const port of cluster.ports) {
    const info = await cluster.info(port)
    if (info.role !== 'master') continue
    const nodes = await cluster.command(port, 'CLUSTER', 'NODES')
    const mine = nodes.split('\n').find((line) => line.includes('myself'))!
    const ranges = mine.split(' ').slice(8)
    const owns = ranges.some((r) => {
      const [from, to] = r.split('-').map(Number)
      return slot >= from! && slot <= (to ?? from)!
    })
    if (!owns) continue
    const id = mine.split(' ')[0]!
    const replicaLine = nodes.split('\n').find((line) => line.split(' ')[3] === id)!
    return { master: port, replica: Number(/:(\d+)@/.exec(replicaLine)![1]) }
  }
  throw new Error(`no master owns slot ${slot}`)
}

describe.skipIf(!redisAvailable())('several server processes on a Redis Cluster', () => {
  describe('a healthy cluster', () => {
    let cluster: RedisCluster | undefined
    beforeAll(async () => {
      cluster = await startRedisCluster()
    }, 120_000)
    afterAll(async () => {
      await cluster?.stop()
    })

    test('kill -9 of one of two processes while publishing: its subscribers move and lose nothing', async () => {
      const [a, b] = await servers(cluster!, 2)
      const proxy = await proxyTo([a!.port, b!.port])
      const start = await startingPoint([b!], 'k9')
      const kinds: TransportName[] = ['websocket', 'websocket', 'sse', 'sse', 'longpoll', 'longpoll']
      const subs = kinds.map((t) => subscriber(proxy.url, [t], 'k9', start))
      await allConnected(subs)
      const publisher = makeClient(proxy.url, ['websocket'])
      await allConnected([{ client: publisher }])
      expect(proxy.openTo(a!.port)).toBeGreaterThan(0)
      const n = 600
      const acks: Promise<unknown>[] = []
      for (let i = 1; i <= n; i++) {
        acks.push(publisher.publish('k9', i))
        if (i % 20 === 0) await sleep(5)
        if (i === 200) await a!.kill()
      }
      await Promise.all(acks)
      await until(() => subs.every((s) => s.received.length >= n), 30_000, 'every subscriber to receive 1..n')
      await sleep(200)
      for (const s of subs) {
        expect(s.received).toEqual(range(n))
        expect(s.gaps).toEqual([])
      }
      expect(proxy.openTo(a!.port)).toBe(0)
    }, 60_000)
  })

  describe('a master killed while publishing, its replica promoted', () => {
    let cluster: RedisCluster | undefined
    beforeAll(async () => {
      cluster = await startRedisCluster({ nodeTimeoutMs: 1000 })
    }, 120_000)
    afterAll(async () => {
      await cluster?.stop()
    })

    test('every acknowledged message is delivered or its loss reported, never silently missing', async () => {
      const channel = 'ledger'
      const prefix = `cluster:${randomUUID()}:`
      const [a, b] = await servers(cluster!, 2, prefix)
      const targets = [a!, b!]
      const proxy = await proxyTo([a!.port, b!.port])
      const start = await startingPoint(targets, channel)
      const kinds: TransportName[] = ['websocket', 'websocket', 'sse', 'sse', 'longpoll', 'longpoll']
      const live = kinds.map((t) => subscriber(proxy.url, [t], channel, start))
      // One client goes away before the loss and comes back after it.
      const away = subscriber(proxy.url, ['websocket'], channel, start)
      await allConnected([...live, away])

      const acknowledged: number[] = []
      for (let i = 1; i <= 50; i++) {
        await publishAcknowledged(targets, channel, i)
        acknowledged.push(i)
      }
      await until(() => [...live, away].every((s) => s.received.length >= 50), 20_000, 'the first 50')
      const awayCursor = away.cursor()
      away.client.close()

      // The replica stops hearing its master: what the master acknowledges from now on exists nowhere else.
      const { master, replica } = await shardOf(cluster!, `${prefix}{${channel}}:log`)
      const offset = Number((await cluster!.info(master)).master_repl_offset)
      await eventually(
        async () => Number((await cluster!.info(replica)).slave_repl_offset) >= offset,
        20_000,
        'the replica to hold 1..50',
      )
      await cluster!.signal(replica, 'SIGSTOP')
      await cluster!.command(master, 'CLIENT', 'KILL', 'TYPE', 'replica')
      for (let i = 51; i <= 100; i++) {
        await publishAcknowledged(targets, channel, i)
        acknowledged.push(i)
      }
      await until(() => live.every((s) => s.received.includes(100)), 20_000, 'live delivery of 51..100')

      // The master dies; the replica, back, is promoted without 51..100. Publishing goes on throughout.
      await cluster!.signal(master, 'SIGKILL')
      await cluster!.signal(replica, 'SIGCONT')
      for (let i = 101; i <= 200; i++) {
        await publishAcknowledged(targets, channel, i)
        acknowledged.push(i)
      }
      expect((await cluster!.info(replica)).role).toBe('master')
      // The loss really happened: the promoted replica's history goes from 50 straight to 101.
      const lines = (await cluster!.command(replica, 'XRANGE', `${prefix}{${channel}}:log`, '-', '+')).split(
        '\n',
      )
      const history = lines.flatMap((line, k) => (line.trim() === 'd' ? [Number(lines[k + 1])] : []))
      expect(history).toContain(50)
      expect(history).toContain(101)
      expect(history.filter((n) => n > 50 && n <= 100)).toEqual([])
      // A server process that had seen 51..100 records the loss once the shard answers again (asynchronously:
      // until then a resume from before the loss cannot be told). Any process then answers a poll from 50
      // with recovered:false.
      const from50 = encodeURIComponent(`${channel}=${awayCursor}`)
      await eventually(
        async () => {
          const answer = await fetch(`${a!.url}/poll?channel=${channel}&since=${from50}&timeoutMs=0`)
          const body = (await answer.json()) as { subscribed?: Array<{ recovered: boolean }> }
          return body.subscribed?.[0]?.recovered === false
        },
        30_000,
        'the loss to be recorded',
      )

      await until(() => live.every((s) => s.received.includes(200)), 30_000, 'live delivery up to 200')
      const back = subscriber(proxy.url, ['websocket'], channel, awayCursor)
      await until(() => back.received.includes(200), 30_000, 'the returning client to catch up')
      await sleep(200)

      const inOrder = (numbers: number[]) => numbers.every((n, k) => k === 0 || n > numbers[k - 1]!)
      for (const s of live) {
        // In order, without duplicates; everything after the failover; anything missing was reported.
        expect(inOrder(s.received)).toBe(true)
        for (let i = 101; i <= 200; i++) expect(s.received).toContain(i)
        const missing = acknowledged.filter((n) => !s.received.includes(n))
        if (missing.length > 0) expect(s.gaps.length).toBeGreaterThan(0)
      }
      // The client that was away missed 51..100, which no longer exist anywhere: it is told so.
      expect(away.received).toEqual(range(50))
      expect(inOrder(back.received)).toBe(true)
      expect(back.received.filter((n) => n <= 100)).toEqual([])
      for (let i = 101; i <= 200; i++) expect(back.received).toContain(i)
      expect(back.gaps).toHaveLength(1)
    }, 120_000)
  })
})
