import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { HoldfastClient, TransportName } from '../../src'
import { collectNumbers, range, until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'
import {
  createRoundRobinProxy,
  type RedisProcess,
  type RoundRobinProxy,
  redisAvailable,
  type ServerProcess,
  startRedis,
  startServerProcess,
} from '../helpers/processes'

// Several holdfast-server processes (the built CLI with --redis) sharing one redis-server, with real
// clients in front of them. Each test gets its own key prefix, so nothing leaks between tests.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let redis: RedisProcess | undefined
const clients = nodeClients()
let processes: ServerProcess[] = []
let proxies: RoundRobinProxy[] = []
let extraRedis: RedisProcess[] = []

afterEach(async () => {
  clients.closeAll()
  await Promise.all(proxies.map((p) => p.close()))
  proxies = []
  await Promise.all(processes.map((p) => p.kill()))
  processes = []
  await Promise.all(extraRedis.map((r) => r.stop()))
  extraRedis = []
})

function makeClient(url: string, transports: TransportName[]): HoldfastClient {
  return clients.create({
    url,
    transports,
    // Publishers that never subscribe are waited on to be connected: connect at once.
    lazy: false,
    fallback: { probeIntervalMs: 0 },
    // Fast heartbeat: a connection to a killed process is noticed at once anyway (the socket resets).
    heartbeat: { intervalMs: 1000, timeoutMs: 1000 },
  })
}

async function servers(
  count: number,
  redisUrl = redis!.url,
  args: string[] = [],
  prefix = `scale:${randomUUID()}:`,
) {
  const started = await Promise.all(
    Array.from({ length: count }, () => startServerProcess({ redisUrl, redisPrefix: prefix, args })),
  )
  processes.push(...started)
  return { servers: started, prefix }
}

async function proxyTo(ports: number[]): Promise<RoundRobinProxy> {
  const proxy = await createRoundRobinProxy(ports)
  proxies.push(proxy)
  return proxy
}

async function publishHttp(
  server: { url: string },
  channel: string,
  data: unknown,
  key?: string,
): Promise<{ cursor: string; duplicate: boolean }> {
  const response = await fetch(`${server.url}/publish`, {
    method: 'POST',
    headers: key === undefined ? {} : { 'idempotency-key': key },
    body: JSON.stringify({ channel, data }),
  })
  if (response.status !== 200)
    throw new Error(`publish answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as { cursor: string; duplicate: boolean }
}

/**
 * Where subscribers start: just before a message `0` (which `collectNumbers` ignores), so even a long poll
 * is answered at once and every client reaches `connected` before the test publishes.
 */
async function startingPoint(server: { url: string }, channel: string): Promise<string> {
  const { cursor } = await publishHttp(server, channel, -1)
  await publishHttp(server, channel, 0)
  return cursor
}

/** A subscriber that records numbers and gaps. */
function subscriber(url: string, transports: TransportName[], channel: string, since: string) {
  const client = makeClient(url, transports)
  const gaps: unknown[] = []
  client.on('gap', (gap) => gaps.push(gap))
  const got = collectNumbers(client, channel, since)
  return { client, gaps, received: got.received }
}

async function allConnected(subs: Array<{ client: HoldfastClient }>): Promise<void> {
  await until(
    () => subs.every((s) => s.client.state.status === 'connected'),
    10_000,
    'every client connected',
  )
}

describe.skipIf(!redisAvailable())('several server processes sharing one Redis', () => {
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  describe('a client on process A resumes on process B with nothing lost', () => {
    for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
      test(transport, async () => {
        const {
          servers: [a, b],
        } = await servers(2)
        const proxy = await proxyTo([a!.port])
        const cursor = await startingPoint(a!, 'resume')
        const sub = subscriber(proxy.url, [transport], 'resume', cursor)
        await allConnected([sub])
        const n = 300
        for (let i = 1; i <= n; i++) {
          await publishHttp(i % 2 === 0 ? a! : b!, 'resume', i)
          if (i === 150) {
            // The load balancer sends everyone to B from now on, and A's connections are cut.
            proxy.setBackends([b!.port])
            proxy.dropAll()
          }
          if (i % 25 === 0) await sleep(5)
        }
        await until(() => sub.received.length >= n, 15_000, 'every message')
        await sleep(150)
        expect(sub.received).toEqual(range(n))
        expect(sub.gaps).toEqual([])
        expect(proxy.servedBy.get(a!.port)).toBeGreaterThan(0)
        expect(proxy.servedBy.get(b!.port)).toBeGreaterThan(0)
      }, 30_000)
    }
  })

  test('kill -9 of one of two processes while publishing: its subscribers move and lose nothing', async () => {
    const {
      servers: [a, b],
    } = await servers(2)
    const proxy = await proxyTo([a!.port, b!.port])
    const cursor = await startingPoint(b!, 'k9')
    const kinds: TransportName[] = ['websocket', 'websocket', 'sse', 'sse', 'longpoll', 'longpoll']
    const subs = kinds.map((t) => subscriber(proxy.url, [t], 'k9', cursor))
    await allConnected(subs)
    const publisher = makeClient(proxy.url, ['websocket'])
    await allConnected([{ client: publisher }])
    // Long polls come and go; the streaming subscribers alone prove some clients were on A when it died.
    expect(proxy.openTo(a!.port)).toBeGreaterThan(0)
    const n = 600
    const acks: Promise<unknown>[] = []
    for (let i = 1; i <= n; i++) {
      acks.push(publisher.publish('k9', i))
      if (i % 20 === 0) await sleep(5)
      if (i === 200) await a!.kill()
    }
    await Promise.all(acks)
    await until(() => subs.every((s) => s.received.length >= n), 20_000, 'every subscriber to receive 1..n')
    await sleep(200)
    for (const s of subs) {
      expect(s.received).toEqual(range(n))
      expect(s.gaps).toEqual([])
    }
    expect(proxy.openTo(a!.port)).toBe(0)
  }, 40_000)

  test('the same idempotency key publishes once across processes', async () => {
    const {
      servers: [a, b],
    } = await servers(2)
    const onA = makeClient(a!.url, ['websocket'])
    const onB = makeClient(b!.url, ['sse'])
    await allConnected([{ client: onA }, { client: onB }])
    const keys = Array.from({ length: 20 }, (_, i) => `order-${i}`)
    const results = await Promise.all(
      keys.flatMap((key) => [
        onA.publish('orders', { key }, { key }),
        onB.publish('orders', { key }, { key }),
        publishHttp(b!, 'orders', { key }, key),
      ]),
    )
    for (let i = 0; i < keys.length; i++) {
      const trio = results.slice(3 * i, 3 * i + 3) as Array<{ cursor: string; duplicate: boolean }>
      expect(new Set(trio.map((r) => r.cursor)).size).toBe(1)
      expect(trio.filter((r) => !r.duplicate)).toHaveLength(1)
    }
    const epoch = (results[0] as { cursor: string }).cursor.split(':')[0]
    const poll = await fetch(`${a!.url}/poll?channel=orders&since=${encodeURIComponent(`orders=${epoch}:0`)}`)
    const stored = ((await poll.json()) as { messages: Array<{ data: { key: string } }> }).messages
    expect(stored.map((m) => m.data.key).sort()).toEqual([...keys].sort())
  }, 20_000)

  test('with the Redis broker a server restart loses nothing: clients come back and resume from their cursor', async () => {
    const {
      servers: [a, b],
      prefix,
    } = await servers(2)
    const cursor = await startingPoint(b!, 'news')
    const subs = (['websocket', 'sse', 'longpoll'] as const).map((t) =>
      subscriber(a!.url, [t], 'news', cursor),
    )
    await allConnected(subs)
    for (let i = 1; i <= 50; i++) await publishHttp(b!, 'news', i)
    await until(() => subs.every((s) => s.received.length === 50), 10_000, 'the first 50')
    await a!.kill()
    for (let i = 51; i <= 100; i++) await publishHttp(b!, 'news', i)
    const restarted = await startServerProcess({ redisUrl: redis!.url, redisPrefix: prefix, port: a!.port })
    processes.push(restarted)
    for (let i = 101; i <= 150; i++) await publishHttp(restarted, 'news', i)
    await until(() => subs.every((s) => s.received.length >= 150), 15_000, 'every message after the restart')
    await sleep(150)
    for (const s of subs) {
      expect(s.received).toEqual(range(150))
      expect(s.gaps).toEqual([])
    }
  }, 30_000)

  test('a Redis restart while publishing loses no acknowledged message, and every client recovers', async () => {
    const durable = await startRedis({ durable: true })
    extraRedis.push(durable)
    const {
      servers: [a, b],
    } = await servers(2, durable.url)
    const proxy = await proxyTo([a!.port, b!.port])
    const cursor = await startingPoint(a!, 'ledger')
    const kinds: TransportName[] = ['websocket', 'websocket', 'sse', 'longpoll']
    const subs = kinds.map((t) => subscriber(proxy.url, [t], 'ledger', cursor))
    const publisher = makeClient(proxy.url, ['websocket'])
    await allConnected([...subs, { client: publisher }])
    const n = 400
    const acked: number[] = []
    const failed: unknown[] = []
    const acks: Promise<unknown>[] = []
    let restart: Promise<void> | undefined
    for (let i = 1; i <= n; i++) {
      acks.push(
        publisher.publish('ledger', i).then(
          () => acked.push(i),
          (error: unknown) => failed.push(error),
        ),
      )
      if (i % 10 === 0) await sleep(5)
      if (i === 150)
        restart = (async () => {
          await durable.kill()
          await sleep(300)
          await durable.start()
        })()
    }
    await restart
    await Promise.all(acks)
    expect(failed).toEqual([])
    expect(acked.sort((x, y) => x - y)).toEqual(range(n))
    await until(() => subs.every((s) => s.received.length >= n), 20_000, 'every acknowledged message')
    await sleep(200)
    for (const s of subs) {
      expect(s.received).toEqual(range(n))
      expect(s.gaps).toEqual([])
    }
  }, 40_000)

  test('a rolling restart of both processes (SIGTERM drains, then a new process) loses nothing', async () => {
    // History enough for a long poll told to come back in a second while 1000 messages a second flow.
    const args = ['--drain-ms', '300', '--history-size', '5000']
    const {
      servers: [a, b],
      prefix,
    } = await servers(2, redis!.url, args)
    const proxy = await proxyTo([a!.port, b!.port])
    const cursor = await startingPoint(a!, 'rolling')
    const kinds: TransportName[] = ['websocket', 'websocket', 'sse', 'sse', 'longpoll', 'longpoll']
    const subs = kinds.map((t) => subscriber(proxy.url, [t], 'rolling', cursor))
    const publisher = makeClient(proxy.url, ['websocket'])
    await allConnected([...subs, { client: publisher }])
    let sent = 0
    let publishing = true
    const acks: Promise<unknown>[] = []
    let acked = 0
    const publishLoop = (async () => {
      while (publishing && sent < 3000) {
        // Never more than 500 unacknowledged (the client's queue holds 1000): a loaded machine acks slower.
        while (sent - acked >= 500) await sleep(5)
        acks.push(publisher.publish('rolling', ++sent).then(() => acked++))
        if (sent % 10 === 0) await sleep(10)
      }
    })()
    const exitCodes: Array<number | null> = []
    const current = [a!, b!]
    for (let i = 0; i < 2; i++) {
      const old = current[i]!
      // As a load balancer does: take it out of rotation, let it drain, put the new one in.
      proxy.setBackends(current.filter((s) => s !== old).map((s) => s.port))
      await sleep(100)
      exitCodes.push(await old.terminate())
      const fresh = await startServerProcess({
        redisUrl: redis!.url,
        redisPrefix: prefix,
        args,
        port: old.port,
      })
      processes.push(fresh)
      current[i] = fresh
      proxy.setBackends(current.map((s) => s.port))
      await sleep(300)
    }
    publishing = false
    await publishLoop
    await Promise.all(acks)
    await until(
      () => subs.every((s) => s.received.length >= sent),
      20_000,
      'every subscriber to receive 1..n',
    )
    await sleep(200)
    expect(exitCodes).toEqual([0, 0])
    expect(sent).toBeGreaterThan(100)
    for (const s of subs) {
      expect(s.received).toEqual(range(sent))
      expect(s.gaps).toEqual([])
    }
  }, 40_000)

  test('a reconnect storm meets the connection rate limit: refused clients come back spread out, and all get in', async () => {
    const {
      servers: [a],
    } = await servers(1, redis!.url, ['--connection-rate', '20', '--connection-burst', '5'])
    const cursor = await startingPoint(a!, 'storm')
    const connectedAt: number[] = []
    const started = Date.now()
    const subs = Array.from({ length: 40 }, () => {
      const s = subscriber(a!.url, ['websocket'], 'storm', cursor)
      const off = s.client.onStateChange((state) => {
        if (state.status !== 'connected') return
        connectedAt.push(Date.now() - started)
        off()
      })
      return s
    })
    await allConnected(subs)
    connectedAt.sort((x, y) => x - y)
    // One admission every 50 ms, at most 5 back to back: the last of 40 cannot be in before (40 - 5) / 20 s
    // after the first, however fast the machine (a lower bound only: the pace is the server's guarantee).
    expect(connectedAt.at(-1)!).toBeGreaterThan(1700)
    for (let i = 1; i <= 20; i++) await publishHttp(a!, 'storm', i)
    await until(() => subs.every((s) => s.received.length >= 20), 10_000, 'every client to get 1..20')
    for (const s of subs) expect(s.received).toEqual(range(20))
  }, 30_000)
})
