// Fan-out: one publisher, many subscribers. Server CPU per 1,000 deliveries (the server process's own
// process.cpuUsage()), delivered msg/s, and publish-to-deliver latency, for Holdfast over WebSocket and
// SSE against a plain `ws` broadcast loop, socket.io 4.8, and a plain node:http SSE loop.
// Servers and subscribers run in separate processes. Run: node bench/fanout.mjs [--smoke]
import { argvOptions } from './lib/child.mjs'
import { ChildGroup, deadline } from './lib/processes.mjs'
import {
  beforeAfter,
  commandLine,
  num,
  printTable,
  runIfMain,
  withBaseline,
  writeResult,
} from './lib/results.mjs'
import { Histogram, median } from './lib/stats.mjs'

export const CONFIGS = [
  {
    id: 'holdfast-ws',
    label: 'Holdfast /ws',
    server: 'holdfast',
    client: 'holdfast-ws',
    transport: 'WebSocket',
    ours: true,
  },
  { id: 'ws', label: 'plain ws broadcast loop', server: 'ws', client: 'ws', transport: 'WebSocket' },
  {
    id: 'socketio',
    label: 'socket.io 4.8 (websocket)',
    server: 'socketio',
    client: 'socketio',
    transport: 'WebSocket',
  },
  {
    id: 'holdfast-sse',
    label: 'Holdfast /sse',
    server: 'holdfast',
    client: 'holdfast-sse',
    transport: 'SSE',
    ours: true,
  },
  {
    id: 'http-sse',
    label: 'plain node:http SSE loop',
    server: 'http-sse',
    client: 'http-sse',
    transport: 'SSE',
  },
]

// Paced latency runs well below the subscribers' capacity (about 20k deliveries/s here), so it measures
// fan-out, not queueing.
const FULL = {
  connections: 1000,
  subscriberProcesses: 1,
  burst: 100,
  rounds: 5,
  paced: 50,
  intervalMs: 100,
  payloadBytes: 100,
}
const SMOKE = {
  connections: 20,
  subscriberProcesses: 1,
  burst: 20,
  rounds: 1,
  paced: 10,
  intervalMs: 10,
  payloadBytes: 100,
}

/** Sizes for this run: --smoke, or the full sizes with any of them overridden (--connections 500 ...). */
function sizesFor(smoke) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  const options = argvOptions()
  for (const key of Object.keys(sizes)) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    if (options[flag] !== undefined) sizes[key] = Number(options[flag])
  }
  return sizes
}
const CHANNEL = 'bench'

/** One phase: arm the subscribers, publish, wait for every delivery, read the server's CPU. */
async function phase(server, subscribers, split, { count, intervalMs, payloadBytes }) {
  await Promise.all(subscribers.map((s, i) => s.call('arm', { perConnection: count, connections: split[i] })))
  const published = await server.call(
    'publish',
    { channel: CHANNEL, count, intervalMs, payloadBytes },
    120_000,
  )
  const waits = await Promise.all(subscribers.map((s) => s.call('wait', { timeoutMs: 30_000 }, 60_000)))
  const cpu = await server.call('cpu')
  const histogram = new Histogram()
  for (const w of waits) histogram.merge(w.histogram)
  const expected = waits.reduce((a, w) => a + w.expected, 0)
  const received = waits.reduce((a, w) => a + w.received, 0)
  const seconds =
    received > 0 ? (Math.max(...waits.map((w) => w.lastAt)) - published.startAt) / 1000 : Number.NaN
  return {
    expected,
    received,
    seconds,
    msgPerSec: received / seconds,
    cpuUsPer1000: cpu.totalUs / (received / 1000),
    userUsPer1000: cpu.userUs / (received / 1000),
    systemUsPer1000: cpu.systemUs / (received / 1000),
    p50Ms: histogram.percentile(50),
    p99Ms: histogram.percentile(99),
    maxMs: histogram.percentile(100),
  }
}

/** Starts one config's server and subscribers (in `group`) and warms them up. */
async function setUp(config, sizes, group) {
  const server = await group.spawn('procs/broadcast-server.mjs', {
    args: ['--kind', config.server],
    execArgv: ['--expose-gc'],
  })
  const split = Array.from(
    { length: sizes.subscriberProcesses },
    (_, i) =>
      Math.floor(sizes.connections / sizes.subscriberProcesses) +
      (i < sizes.connections % sizes.subscriberProcesses ? 1 : 0),
  )
  const subscribers = await Promise.all(
    split.map(() =>
      group.spawn('procs/subscribers.mjs', {
        args: ['--kind', config.client, '--port', String(server.info.port), '--channel', CHANNEL],
      }),
    ),
  )
  const opened = await Promise.all(subscribers.map((s, i) => s.call('open', { count: split[i] }, 120_000)))
  const connections = await server.call('connections')
  // Warm-up: JIT, buffers, socket state; not recorded.
  await phase(server, subscribers, split, { count: 20, intervalMs: 5, payloadBytes: sizes.payloadBytes })
  const openMs = Math.max(...opened.map((o) => o.ms))
  return { config, server, subscribers, split, connections, openMs, bursts: [], paced: undefined }
}

/**
 * Every config is set up first, then the rounds take turns (a different one first each round), so all
 * configs see the same machine at the same time: on a shared 2-core VM conditions drift over minutes.
 */
async function measureAll(configs, sizes) {
  const group = new ChildGroup()
  const failed = new Map()
  const attempt = async (setup, fn) => {
    if (failed.has(setup.config.id)) return
    try {
      await fn()
    } catch (error) {
      failed.set(setup.config.id, String(error?.message ?? error).split('\n')[0])
    }
  }
  try {
    const setups = []
    for (const config of configs) {
      process.stdout.write(`fanout: ${config.label}: `)
      try {
        const setup = await setUp(config, sizes, group)
        console.log(`${num(setup.connections)} subscribed in ${num(setup.openMs)} ms`)
        setups.push(setup)
      } catch (error) {
        failed.set(config.id, String(error?.message ?? error).split('\n')[0])
        console.log(`failed: ${failed.get(config.id)}`)
      }
    }
    const burst = { count: sizes.burst, intervalMs: 0, payloadBytes: sizes.payloadBytes }
    const paced = { count: sizes.paced, intervalMs: sizes.intervalMs, payloadBytes: sizes.payloadBytes }
    for (let r = 0; r < sizes.rounds; r++) {
      process.stdout.write(`fanout: burst round ${r + 1} of ${sizes.rounds}\n`)
      for (let k = 0; k < setups.length; k++) {
        const setup = setups[(k + r) % setups.length]
        await attempt(setup, async () =>
          setup.bursts.push(await phase(setup.server, setup.subscribers, setup.split, burst)),
        )
      }
    }
    process.stdout.write('fanout: paced latency runs\n')
    for (const setup of setups) {
      await attempt(setup, async () => {
        setup.paced = await phase(setup.server, setup.subscribers, setup.split, paced)
      })
    }
    return configs.map((config) => {
      const setup = setups.find((s) => s.config === config)
      if (failed.has(config.id) || !setup) return { ...config, error: failed.get(config.id) }
      const { bursts, connections, openMs } = setup
      const lost =
        bursts.reduce((a, b) => a + b.expected - b.received, 0) + setup.paced.expected - setup.paced.received
      return {
        ...config,
        connections,
        openMs,
        lost,
        cpuUsPer1000: median(bursts.map((b) => b.cpuUsPer1000)),
        userUsPer1000: median(bursts.map((b) => b.userUsPer1000)),
        systemUsPer1000: median(bursts.map((b) => b.systemUsPer1000)),
        msgPerSec: median(bursts.map((b) => b.msgPerSec)),
        burstRounds: bursts,
        paced: setup.paced,
      }
    })
  } finally {
    group.close()
  }
}

export async function run({ smoke }) {
  const sizes = sizesFor(smoke)
  const cancel = deadline(smoke ? 60_000 : 15 * 60_000, 'fanout')
  const only = argvOptions().only?.split(',')
  const rows = await measureAll(
    withBaseline(CONFIGS).filter((c) => !only || only.includes(c.id) || only.includes(c.baselineOf)),
    sizes,
  )
  cancel()
  printTable(
    `Fan-out to ${num(sizes.connections)} subscribers (burst of ${sizes.burst}, median of ${sizes.rounds}; latency at one message every ${sizes.intervalMs} ms)`,
    [
      'server',
      'transport',
      'server CPU µs / 1,000 deliveries',
      'delivered msg/s',
      'p50 ms',
      'p99 ms',
      'lost',
    ],
    rows.map((r) =>
      r.error
        ? [r.label, r.transport, `failed: ${r.error}`, '', '', '', '']
        : [
            r.label,
            r.transport,
            num(r.cpuUsPer1000),
            num(r.msgPerSec),
            num(r.paced.p50Ms, 2),
            num(r.paced.p99Ms, 2),
            num(r.lost),
          ],
    ),
  )
  const compared = beforeAfter(rows, [['cpuUsPer1000', 'server CPU µs / 1,000 deliveries']])
  if (compared.length > 0)
    printTable(
      'This build against HOLDFAST_BASELINE_SERVER, same run (after / before)',
      ['server', 'figure', 'before', 'after', 'after / before'],
      compared.map((c) => [c.label, c.metric, num(c.before), num(c.after), `${c.ratio.toFixed(3)}x`]),
    )
  const path = await writeResult('fanout', {
    smoke,
    command: commandLine('fanout.mjs'),
    data: {
      sizes,
      method:
        'Each server runs in its own process (node --expose-gc); subscribers are raw ws / HTTP clients split over ' +
        `${sizes.subscriberProcesses} other process(es). Server CPU = process.cpuUsage() of the server process from the start of a ` +
        'publish run until the last delivery, divided by deliveries / 1,000 (median of the burst rounds). ' +
        'All configs are set up side by side and take turns, round by round. Burst: one message per event-loop turn. msg/s = deliveries / (last delivery - first publish). ' +
        'Latency: receive time minus the send time embedded in the payload (same machine clock), paced publishing.',
      rows,
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
