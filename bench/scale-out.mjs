// Scale-out: the same subscriber load on 1, 2 and 4 Holdfast server processes sharing one Redis, then a
// local Redis Cluster (three masters, three replicas; test-support/redisCluster.mjs). Reports fan-out
// throughput, server CPU per 1,000 deliveries (all server processes together), and what each publish costs
// Redis (CPU, commands, bytes). Also: memory per subscription on one process, and what waitForReplicas
// (Redis WAIT) adds to a publish on the cluster. Needs redis-server and redis-cli.
// Run: node bench/scale-out.mjs [--smoke] [--connections N] [--burst N] [--rounds N] [--processes 1,2,4]
import { execFile } from 'node:child_process'
import { startRedisCluster } from '../test-support/redisCluster.mjs'
import { argvOptions } from './lib/child.mjs'
import { sleep } from './lib/concurrency.mjs'
import { ChildGroup, deadline } from './lib/processes.mjs'
import { hasRedisServer, startRedis } from './lib/redis.mjs'
import { commandLine, num, printTable, runIfMain, writeResult } from './lib/results.mjs'
import { Histogram, median, percentile } from './lib/stats.mjs'

const FULL = {
  connections: 1000,
  subscriberProcesses: 1,
  burst: 100,
  rounds: 3,
  processes: [1, 2, 4],
  payloadBytes: 100,
  memoryConnections: 1000,
  extraSubscriptions: 4,
  settleMs: 1000,
  waitPublishes: 1000,
  waitInFlight: 16,
  costPublishes: 5000,
}
const SMOKE = {
  connections: 20,
  subscriberProcesses: 1,
  burst: 10,
  rounds: 1,
  processes: [1, 2],
  payloadBytes: 100,
  memoryConnections: 20,
  extraSubscriptions: 2,
  settleMs: 100,
  waitPublishes: 40,
  waitInFlight: 4,
  costPublishes: 50,
}

function sizesFor(smoke) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  const options = argvOptions()
  for (const key of Object.keys(sizes)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    if (options[flag] === undefined) continue
    sizes[key] = key === 'processes' ? options[flag].split(',').map(Number) : Number(options[flag])
  }
  return sizes
}

const CHANNEL = 'bench'

/** Runs redis-cli against one node and resolves with its output. */
function redisCli(port, ...args) {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { timeout: 10_000 },
      (error, out) => (error ? reject(error) : resolve(out)),
    )
  })
}

/** `INFO` of one node as an object, and the size of that answer (it counts in the node's own byte counters). */
async function redisInfo(port) {
  const out = await redisCli(port, 'INFO')
  const fields = { answerBytes: Buffer.byteLength(out.replace(/\r?\n$/, '')) + 16 }
  for (const line of out.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim()
  }
  return fields
}

/**
 * The shard that holds `channel` (its master first, then its replicas), so background work of the other
 * shards is not charged to the publishes.
 */
async function shardPorts(ports, channel) {
  const slot = Number((await redisCli(ports[0], 'CLUSTER', 'KEYSLOT', `{${channel}}`)).trim())
  const lines = (await redisCli(ports[0], 'CLUSTER', 'NODES')).trim().split('\n')
  const nodes = lines.map((line) => {
    const [id, address, flags, masterId, , , , , ...slots] = line.split(' ')
    return { id, port: Number(address.split('@')[0].split(':')[1]), flags, masterId, slots }
  })
  const master = nodes.find(
    (n) =>
      n.flags.includes('master') &&
      n.slots.some((range) => {
        const [from, to = from] = range.split('-').map(Number)
        return slot >= from && slot <= to
      }),
  )
  return [master.port, ...nodes.filter((n) => n.masterId === master.id).map((n) => n.port)]
}

/**
 * Counters of the shard, summed over its nodes; bytes over its master only (replication counts once, as
 * master output). Each INFO answer is left out of the next reading's figures.
 */
async function redisTotals(ports) {
  if (ports.length === 0)
    return { commands: 0, cpuUs: 0, inBytes: 0, outBytes: 0, nodes: 0, masterAnswerBytes: 0 }
  const infos = await Promise.all(ports.map(redisInfo))
  const sum = (pick) => infos.reduce((a, info) => a + pick(info), 0)
  const master = infos.find((info) => info.role === 'master')
  return {
    commands: sum((i) => Number(i.total_commands_processed)),
    cpuUs: sum((i) => (Number(i.used_cpu_sys) + Number(i.used_cpu_user)) * 1e6),
    inBytes: Number(master.total_net_input_bytes),
    outBytes: Number(master.total_net_output_bytes),
    nodes: infos.length,
    masterAnswerBytes: master.answerBytes,
  }
}

/** What `after - before` says per publish, without the INFO request and answer of `before`. */
function perPublish(before, after, count) {
  if (before.nodes === 0) return {}
  return {
    redisCpuUsPerPublish: (after.cpuUs - before.cpuUs) / count,
    commandsPerPublish: (after.commands - before.commands - before.nodes) / count,
    inBytesPerPublish: (after.inBytes - before.inBytes - 14) / count,
    outBytesPerPublish: (after.outBytes - before.outBytes - before.masterAnswerBytes) / count,
  }
}

/** One burst: arm the subscribers, publish from the first server, wait for every delivery, read the costs. */
async function phase(setup, count, payloadBytes) {
  const { servers, subscribers, split } = setup
  await Promise.all(subscribers.map((s, i) => s.call('arm', { perConnection: count, connections: split[i] })))
  await Promise.all(servers.map((s) => s.call('markCpu')))
  const published = await servers[0].call(
    'publish',
    { channel: CHANNEL, count, intervalMs: 0, payloadBytes, inFlight: 16 },
    120_000,
  )
  const waits = await Promise.all(subscribers.map((s) => s.call('wait', { timeoutMs: 30_000 }, 60_000)))
  const cpus = await Promise.all(servers.map((s) => s.call('cpu')))
  const received = waits.reduce((a, w) => a + w.received, 0)
  const expected = waits.reduce((a, w) => a + w.expected, 0)
  const seconds = (Math.max(...waits.map((w) => w.lastAt)) - published.startAt) / 1000
  const serverUs = cpus.reduce((a, c) => a + c.totalUs, 0)
  const histogram = new Histogram()
  for (const w of waits) histogram.merge(w.histogram)
  return {
    expected,
    received,
    msgPerSec: received / seconds,
    cpuUsPer1000: serverUs / (received / 1000),
    perProcessUsPer1000: cpus.map((c) => c.totalUs / (received / 1000)),
    p50Ms: histogram.percentile(50),
    p99Ms: histogram.percentile(99),
  }
}

/** Starts `processes` servers on the backend and the subscribers spread over them, and warms them up. */
async function setUp(group, backend, processes, sizes) {
  const prefix = `bench:${backend.id}:${processes}:${Date.now()}:`
  const servers = await Promise.all(
    Array.from({ length: processes }, () =>
      group.spawn('procs/broadcast-server.mjs', {
        args: ['--kind', 'holdfast', ...backend.args, '--redis-prefix', prefix],
      }),
    ),
  )
  const ports = servers.map((s) => s.info.port).join(',')
  const split = Array.from(
    { length: sizes.subscriberProcesses },
    (_, i) =>
      Math.floor(sizes.connections / sizes.subscriberProcesses) +
      (i < sizes.connections % sizes.subscriberProcesses ? 1 : 0),
  )
  const subscribers = await Promise.all(
    split.map(() =>
      group.spawn('procs/subscribers.mjs', {
        args: ['--kind', 'holdfast-ws', '--ports', ports, '--channel', CHANNEL],
      }),
    ),
  )
  await Promise.all(subscribers.map((s, i) => s.call('open', { count: split[i] }, 120_000)))
  const perServer = await Promise.all(servers.map((s) => s.call('connections')))
  const setup = { servers, subscribers, split, backend, perServer }
  await phase(setup, 20, sizes.payloadBytes)
  return setup
}

/**
 * What a publish costs Redis with `setup.servers.length` processes following the channel: every server
 * follows a channel of its own through the broker (no client, so nothing is delivered onwards), the first
 * publishes `count` messages (16 under way), and the shard's INFO counters are read before and after, less
 * what two back-to-back INFO readings cost.
 */
async function redisCost(setup, count, payloadBytes) {
  const { servers, backend } = setup
  const channel = 'cost'
  const redisPorts = await backend.shard(channel)
  await Promise.all(servers.map((s) => s.call('follow', { channel })))
  const start = await Promise.all(servers.map((s) => s.call('followed')))
  const idleFrom = await redisTotals(redisPorts)
  const idleTo = await redisTotals(redisPorts)
  await Promise.all(servers.map((s) => s.call('markCpu')))
  const before = await redisTotals(redisPorts)
  await servers[0].call('publish', { channel, count, intervalMs: 0, payloadBytes, inFlight: 16 }, 300_000)
  const after = await redisTotals(redisPorts)
  const deadlineAt = Date.now() + 30_000
  for (;;) {
    const now = await Promise.all(servers.map((s) => s.call('followed')))
    if (now.every((n, i) => n - start[i] >= count)) break
    if (Date.now() > deadlineAt) throw new Error('not every process heard every notification')
    await sleep(20)
  }
  // The processes that only listen: what hearing one notification costs a server.
  const listeners = await Promise.all(servers.slice(1).map((s) => s.call('cpu')))
  const overhead = perPublish(idleFrom, idleTo, 1)
  const measured = perPublish(before, after, 1)
  const per = (key) => (measured[key] - overhead[key]) / count
  return {
    redisCpuUsPerPublish: per('redisCpuUsPerPublish'),
    commandsPerPublish: per('commandsPerPublish'),
    inBytesPerPublish: per('inBytesPerPublish'),
    outBytesPerPublish: per('outBytesPerPublish'),
    serverUsPerNotification:
      listeners.length === 0 ? undefined : median(listeners.map((c) => c.totalUs / count)),
  }
}

function tearDown(setup) {
  for (const peer of [...setup.servers, ...setup.subscribers]) peer.kill()
}

/** Fan-out rounds for every process count on one backend; process counts take turns round by round. */
async function fanoutRows(group, backend, sizes) {
  const rows = []
  for (const processes of sizes.processes) {
    process.stdout.write(`scale-out: ${backend.label}, ${processes} process(es): `)
    let setup
    try {
      setup = await setUp(group, backend, processes, sizes)
      const bursts = []
      for (let r = 0; r < sizes.rounds; r++) bursts.push(await phase(setup, sizes.burst, sizes.payloadBytes))
      const pick = (key) => median(bursts.map((b) => b[key]))
      const cost = backend.shard ? await redisCost(setup, sizes.costPublishes, sizes.payloadBytes) : {}
      const row = {
        backend: backend.id,
        label: backend.label,
        processes,
        connections: setup.perServer.reduce((a, n) => a + n, 0),
        perServer: setup.perServer,
        lost: bursts.reduce((a, b) => a + b.expected - b.received, 0),
        msgPerSec: pick('msgPerSec'),
        cpuUsPer1000: pick('cpuUsPer1000'),
        perProcessUsPer1000: bursts[Math.floor(bursts.length / 2)].perProcessUsPer1000,
        ...cost,
        p50Ms: pick('p50Ms'),
        p99Ms: pick('p99Ms'),
        bursts,
      }
      console.log(`${num(row.msgPerSec)} deliveries/s, ${num(row.cpuUsPer1000)} µs CPU / 1,000`)
      rows.push(row)
    } catch (error) {
      const message = String(error?.message ?? error).split('\n')[0]
      console.log(`failed: ${message}`)
      rows.push({ backend: backend.id, label: backend.label, processes, error: message })
    } finally {
      if (setup) tearDown(setup)
    }
  }
  return rows
}

/**
 * Memory one server process (Redis broker) holds per subscription: connections with one subscription,
 * then with `extraSubscriptions` more on channels other connections share, then on channels of their own.
 */
async function subscriptionMemory(group, backend, kind, sizes) {
  const variants = [
    { id: 'one', channels: 1, unique: false },
    { id: 'shared', channels: 1 + sizes.extraSubscriptions, unique: false },
    { id: 'own', channels: 1 + sizes.extraSubscriptions, unique: true },
  ]
  const measured = {}
  for (const variant of variants) {
    const server = await group.spawn('procs/broadcast-server.mjs', {
      args: ['--kind', 'holdfast', ...backend.args, '--redis-prefix', `bench:mem:${Date.now()}:`],
      execArgv: ['--expose-gc'],
    })
    try {
      const before = await server.call('memory')
      const subscribers = await group.spawn('procs/subscribers.mjs', {
        args: [
          '--kind',
          kind,
          '--port',
          String(server.info.port),
          '--channels',
          String(variant.channels),
          ...(variant.unique ? ['--unique'] : []),
        ],
      })
      await subscribers.call('open', { count: sizes.memoryConnections, parallel: 50 }, 180_000)
      await sleep(sizes.settleMs)
      const after = await server.call('memory')
      subscribers.kill()
      measured[variant.id] = { rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed }
    } finally {
      server.kill()
    }
  }
  const extra = sizes.memoryConnections * sizes.extraSubscriptions
  const per = (id, key) => (measured[id][key] - measured.one[key]) / extra
  return {
    kind,
    connections: sizes.memoryConnections,
    perConnectionRss: measured.one.rss / sizes.memoryConnections,
    perConnectionHeap: measured.one.heap / sizes.memoryConnections,
    sharedRss: per('shared', 'rss'),
    sharedHeap: per('shared', 'heap'),
    ownRss: per('own', 'rss'),
    ownHeap: per('own', 'heap'),
    measured,
  }
}

/**
 * What history and idempotency keys hold in Redis: `used_memory` after `count` publishes of ~payloadBytes on
 * 8 channels, without and then with an idempotency key each (history large enough to keep them all).
 */
async function redisMemory(group, backend, sizes) {
  const port = (await backend.shard('x'))[0]
  const usedMemory = async () => Number((await redisInfo(port)).used_memory)
  const measured = {}
  for (const keys of [false, true]) {
    const publisher = await group.spawn('procs/redis-publisher.mjs', {
      args: [...backend.args, '--prefix', `bench:memory:${keys}:${Date.now()}:`],
    })
    await publisher.call('publish', { count: 8, inFlight: 1 })
    const before = await usedMemory()
    await publisher.call('publish', { count: sizes.costPublishes, inFlight: 16, keys }, 300_000)
    measured[keys ? 'withKeys' : 'plain'] = ((await usedMemory()) - before) / sizes.costPublishes
    publisher.kill()
  }
  return {
    payloadBytes: 100,
    bytesPerStoredMessage: measured.plain,
    bytesPerIdempotencyKey: measured.withKeys - measured.plain,
  }
}

/** Publish latency and throughput on the cluster with and without waitForReplicas, taking turns. */
async function waitCost(group, backend, sizes) {
  const modes = [
    { id: 'off', label: 'waitForReplicas off', args: [] },
    { id: 'on', label: 'waitForReplicas { replicas: 1 }', args: ['--wait-replicas', '1'] },
  ]
  const publishers = await Promise.all(
    modes.map((m) =>
      group.spawn('procs/redis-publisher.mjs', {
        args: [...backend.args, '--prefix', `bench:wait:${m.id}:${Date.now()}:`, ...m.args],
      }),
    ),
  )
  const results = modes.map(() => ({ sequential: [], concurrent: [] }))
  for (let round = 0; round < 2; round++) {
    for (let k = 0; k < modes.length; k++) {
      const i = (k + round) % modes.length
      results[i].sequential.push(
        await publishers[i].call('publish', { count: sizes.waitPublishes, inFlight: 1 }, 300_000),
      )
      results[i].concurrent.push(
        await publishers[i].call(
          'publish',
          { count: sizes.waitPublishes, inFlight: sizes.waitInFlight },
          300_000,
        ),
      )
    }
  }
  for (const p of publishers) p.kill()
  return modes.map((mode, i) => {
    const latencies = results[i].sequential.flatMap((r) => r.latencies)
    return {
      mode: mode.id,
      label: mode.label,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      sequentialPerSec: median(results[i].sequential.map((r) => sizes.waitPublishes / (r.ms / 1000))),
      concurrentPerSec: median(results[i].concurrent.map((r) => sizes.waitPublishes / (r.ms / 1000))),
    }
  })
}

export async function run({ smoke }) {
  const sizes = sizesFor(smoke)
  if (!hasRedisServer()) {
    // As with the Redis tests: skipped with a warning locally, a failure in CI.
    console.warn('scale-out: redis-server is not installed (apt-get install -y redis-server); SKIPPED')
    return process.env.CI ? [{ error: 'redis-server is not installed' }] : []
  }
  const cancel = deadline(smoke ? 80_000 : 30 * 60_000, 'scale-out')
  const group = new ChildGroup()
  let cluster
  const rows = []
  const memory = []
  let wait = []
  let redisMemoryFigures
  try {
    // The baseline: one process with the in-memory broker, in the same run.
    const memoryBroker = { id: 'memory', label: 'none (memory broker)', args: [] }
    rows.push(...(await fanoutRows(group, memoryBroker, { ...sizes, processes: [1] })))
    const url = await startRedis(group)
    const single = {
      id: 'redis',
      label: 'one Redis',
      args: ['--redis', url],
      shard: async () => [Number(new URL(url).port)],
    }
    const kinds = smoke ? ['holdfast-ws'] : ['holdfast-ws', 'holdfast-sse']
    process.stdout.write('scale-out: Redis memory per stored message and per idempotency key ... ')
    redisMemoryFigures = await redisMemory(group, single, sizes)
    console.log(
      `${num(redisMemoryFigures.bytesPerStoredMessage)} B / message, ${num(redisMemoryFigures.bytesPerIdempotencyKey)} B / key`,
    )
    rows.push(...(await fanoutRows(group, single, sizes)))
    for (const kind of kinds) {
      process.stdout.write(`scale-out: memory per subscription (${kind}) ... `)
      const result = await subscriptionMemory(group, single, kind, sizes)
      console.log(`${num(result.sharedHeap)} B heap per shared, ${num(result.ownHeap)} B per own channel`)
      memory.push(result)
    }
    process.stdout.write('scale-out: starting a local Redis Cluster (3 masters, 3 replicas) ... ')
    cluster = await startRedisCluster()
    console.log(cluster.seeds.join(','))
    const sharded = {
      id: 'cluster',
      label: 'Redis Cluster (3 masters + 3 replicas)',
      args: ['--redis-cluster', cluster.seeds.join(',')],
      shard: (channel) => shardPorts(cluster.ports, channel),
    }
    rows.push(...(await fanoutRows(group, sharded, sizes)))
    process.stdout.write('scale-out: publish cost of waitForReplicas on the cluster ... ')
    wait = await waitCost(group, sharded, sizes)
    console.log(wait.map((w) => `${w.mode}: p50 ${num(w.p50Ms, 2)} ms`).join(', '))
  } finally {
    group.close()
    await cluster?.stop()
    cancel()
  }

  printTable(
    `Fan-out to ${num(sizes.connections)} WebSocket subscribers spread over 1..${Math.max(...sizes.processes)} server processes (burst of ${sizes.burst}, median of ${sizes.rounds})`,
    [
      'Redis',
      'server processes',
      'deliveries/s',
      'server CPU µs / 1,000 deliveries (all processes)',
      'Redis CPU µs / publish',
      'Redis commands / publish',
      'bytes into / out of Redis per publish',
      'server CPU µs / notification heard',
      'lost',
    ],
    rows.map((r) =>
      r.error
        ? [r.label, String(r.processes), `failed: ${r.error}`, '', '', '', '', '', '']
        : [
            r.label,
            String(r.processes),
            num(r.msgPerSec),
            num(r.cpuUsPer1000),
            r.backend === 'memory' ? '' : num(r.redisCpuUsPerPublish),
            r.backend === 'memory' ? '' : num(r.commandsPerPublish, 1),
            r.backend === 'memory' ? '' : `${num(r.inBytesPerPublish)} / ${num(r.outBytesPerPublish)}`,
            r.serverUsPerNotification === undefined ? '' : num(r.serverUsPerNotification, 1),
            num(r.lost),
          ],
    ),
  )
  printTable(
    `Memory per subscription, one server process on one Redis (${num(sizes.memoryConnections)} connections, +${sizes.extraSubscriptions} subscriptions each; bytes after GC)`,
    [
      'transport',
      'per connection with 1 subscription (RSS / heap)',
      'per extra subscription, shared channel',
      'per extra subscription, channel of its own',
    ],
    memory.map((m) => [
      m.kind === 'holdfast-ws' ? 'WebSocket' : 'SSE',
      `${num(m.perConnectionRss)} / ${num(m.perConnectionHeap)}`,
      `${num(m.sharedRss)} / ${num(m.sharedHeap)}`,
      `${num(m.ownRss)} / ${num(m.ownHeap)}`,
    ]),
  )
  if (redisMemoryFigures)
    printTable(
      `Redis memory (one Redis, ${num(sizes.costPublishes)} publishes of ~100 B; used_memory delta)`,
      ['per stored message (B)', 'per idempotency key (B)'],
      [[num(redisMemoryFigures.bytesPerStoredMessage), num(redisMemoryFigures.bytesPerIdempotencyKey)]],
    )
  printTable(
    `Publish cost of waitForReplicas on the local cluster (${num(sizes.waitPublishes)} publishes, one at a time and ${sizes.waitInFlight} in flight)`,
    [
      'mode',
      'p50 ms',
      'p99 ms',
      'publishes/s, one at a time',
      `publishes/s, ${sizes.waitInFlight} in flight`,
    ],
    wait.map((w) => [
      w.label,
      num(w.p50Ms, 2),
      num(w.p99Ms, 2),
      num(w.sequentialPerSec),
      num(w.concurrentPerSec),
    ]),
  )
  const path = await writeResult('scale-out', {
    smoke,
    command: commandLine('scale-out.mjs'),
    data: {
      sizes,
      method:
        'Every server is the Holdfast server with the Redis broker (one row with the in-memory broker, as the baseline ' +
        'of the same run), in its own process; subscribers are raw WebSocket ' +
        `clients in ${sizes.subscriberProcesses} other process(es), spread round robin over the servers, all on channel ` +
        `"${CHANNEL}". The first server publishes a burst of ${sizes.burst} through Redis, up to 16 publishes under way ` +
        'at once, and every server delivers to its share. Server CPU = process.cpuUsage() of every server process from the ' +
        'start of the burst to the last delivery, summed, per 1,000 deliveries. Redis figures come from a separate ' +
        `run of ${sizes.costPublishes} publishes (16 under way) on a channel every server follows without clients: INFO ` +
        'deltas on the shard that holds it, less the cost of the INFO readings: used_cpu_user+sys and total_commands_processed summed over its ' +
        'master and replica (script-internal and replicated commands included), total_net_input/output_bytes of its ' +
        'master (replication counts as master output), the INFO requests themselves left out. ' +
        'In that run, the CPU of each server that only listens, per notification heard (median over those servers). ' +
        'Medians of the rounds. Memory: one server process after gc(), connections with 1 subscription, then with ' +
        `${sizes.extraSubscriptions} more (channels every connection shares, then channels of their own). waitForReplicas: ` +
        'two publishing processes on the cluster, one with WAIT 1 (timeout 1 s) after each publish, taking turns. ' +
        `Redis memory: used_memory of one Redis before and after ${sizes.costPublishes} publishes of ~100 B on 8 channels ` +
        '(history large enough to keep them), without and with an idempotency key each.',
      rows,
      memory,
      wait,
      redisMemory: redisMemoryFigures,
    },
  })
  console.log(`wrote ${path}`)
  return [...rows, ...(wait.length === 0 ? [{ error: 'waitForReplicas not measured' }] : [])]
}

await runIfMain(import.meta.url, run)
