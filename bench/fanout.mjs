// Fan-out: one publisher, many subscribers. Server CPU per 1,000 deliveries (the server process's own
// process.cpuUsage()), delivered msg/s, and publish-to-deliver latency, for Holdfast over WebSocket and
// SSE against a plain `ws` broadcast loop, socket.io 4.8, and a plain node:http SSE loop. In the same run,
// presence: server CPU per join and per leave fanned out to 1,000 watchers, and memory per present member
// (`--only presence` runs that part alone).
// Servers and subscribers run in separate processes. Run: node bench/fanout.mjs [--smoke]
import { availableParallelism, loadavg } from 'node:os'
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

// Presence in the same run: `watchers` subscribers of one channel's presence, `events` joins then as many
// leaves per round, and the memory of `members` present members.
const PRESENCE_FULL = { watchers: 1000, members: 2000, events: 200, rounds: 3 }
const PRESENCE_SMOKE = { watchers: 20, members: 20, events: 10, rounds: 1 }
const PRESENCE_CHANNEL = 'bench.room'

/** One presence phase: arm the watchers, members enter or leave, wait for every event, read the CPU. */
async function presencePhase(server, members, watchers, sizes, kind) {
  const { watchers: connections, events } = sizes
  await watchers.call('arm', { perConnection: events, connections, presence: true })
  await server.call('markCpu')
  const done = await members.call(kind === 'join' ? 'enter' : 'leave', { from: 0, to: events }, 300_000)
  const wait = await watchers.call('wait', { timeoutMs: 60_000 }, 90_000)
  const cpu = await server.call('cpu')
  return {
    kind,
    expected: wait.expected,
    received: wait.received,
    requestsMs: done.ms,
    seconds: (wait.lastAt - wait.firstAt) / 1000,
    cpuUsPerEvent: cpu.totalUs / events,
    cpuUsPer1000: cpu.totalUs / (wait.received / 1000),
  }
}

/**
 * Presence over WebSocket, from the Holdfast server process alone: memory per present member (the same
 * connections measured before and after they entered, nobody watching), then CPU per join and per leave
 * fanned out to `watchers` subscribers of the channel's presence.
 */
async function measurePresence(sizes) {
  const group = new ChildGroup()
  try {
    const server = await group.spawn('procs/broadcast-server.mjs', {
      args: ['--kind', 'holdfast', '--presence-max-members', String(sizes.members)],
      execArgv: ['--expose-gc'],
    })
    const port = String(server.info.port)
    const members = await group.spawn('procs/presence-members.mjs', {
      args: ['--port', port, '--channel', PRESENCE_CHANNEL],
    })
    await members.call('open', { count: sizes.members }, 120_000)
    // Warm-up: the first enter and leave compile code and create the channel's state; not counted.
    const few = Math.min(10, sizes.members)
    await members.call('enter', { to: few })
    await members.call('leave', { to: few })
    const before = await server.call('memory')
    const entered = await members.call('enter', {}, 300_000)
    const present = await server.call('memory')
    await members.call('leave', {}, 300_000)
    const afterLeave = await server.call('memory')
    const memory = {
      members: sizes.members,
      enterMs: entered.ms,
      heapBytesPerMember: (present.heapUsed - before.heapUsed) / sizes.members,
      rssBytesPerMember: (present.rss - before.rss) / sizes.members,
      // With more members than the history keeps, the presence log is full both when all are present (of
      // joins) and after all left (of leaves): the difference is the members themselves.
      heapBytesPerMemberLogFull: (present.heapUsed - afterLeave.heapUsed) / sizes.members,
      before,
      present,
      afterLeave,
    }
    console.log(
      `fanout: presence: ${num(sizes.members)} members entered in ${num(entered.ms)} ms; ` +
        `heap +${num(memory.heapBytesPerMember)} B per member`,
    )

    const watchers = await group.spawn('procs/subscribers.mjs', {
      args: ['--kind', 'holdfast-ws', '--port', port, '--channel', `${PRESENCE_CHANNEL}~presence`],
    })
    await watchers.call('open', { count: sizes.watchers }, 120_000)
    // Warm-up: JIT and socket state; not recorded.
    const warm = { ...sizes, events: Math.min(10, sizes.events) }
    await presencePhase(server, members, watchers, warm, 'join')
    await presencePhase(server, members, watchers, warm, 'leave')
    const phases = []
    for (let r = 0; r < sizes.rounds; r++) {
      process.stdout.write(`fanout: presence round ${r + 1} of ${sizes.rounds}\n`)
      phases.push(await presencePhase(server, members, watchers, sizes, 'join'))
      phases.push(await presencePhase(server, members, watchers, sizes, 'leave'))
    }
    const rows = ['join', 'leave'].map((kind) => {
      const mine = phases.filter((p) => p.kind === kind)
      return {
        kind,
        cpuUsPerEvent: median(mine.map((p) => p.cpuUsPerEvent)),
        cpuUsPer1000: median(mine.map((p) => p.cpuUsPer1000)),
        eventsPerSec: median(mine.map((p) => p.received / p.seconds)),
        lost: mine.reduce((a, p) => a + p.expected - p.received, 0),
        phases: mine,
      }
    })
    return { sizes, memory, rows }
  } finally {
    group.close()
  }
}

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

function printPresence({ sizes, memory, rows }) {
  printTable(
    `Presence over WebSocket: joins and leaves fanned out to ${num(sizes.watchers)} watchers (${sizes.events} of each per round, median of ${sizes.rounds})`,
    [
      'event',
      `server CPU µs per event (to ${num(sizes.watchers)})`,
      'server CPU µs / 1,000 deliveries',
      'deliveries/s',
      'lost',
    ],
    rows.map((r) => [r.kind, num(r.cpuUsPerEvent), num(r.cpuUsPer1000), num(r.eventsPerSec), num(r.lost)]),
  )
  printTable(
    `Presence: server memory per present member (${num(memory.members)} members of one channel, after GC)`,
    [
      'heap B per member (with its join event in the log)',
      'heap B per member (log full on both sides)',
      'RSS B per member',
    ],
    [[num(memory.heapBytesPerMember), num(memory.heapBytesPerMemberLogFull), num(memory.rssBytesPerMember)]],
  )
}

export async function run({ smoke }) {
  // The machine's load around the run, so busy-machine figures are read as such.
  const loadAtStart = loadavg()
  const sizes = sizesFor(smoke)
  const cancel = deadline(smoke ? 60_000 : 15 * 60_000, 'fanout')
  const only = argvOptions().only?.split(',')
  const rows = await measureAll(
    withBaseline(CONFIGS).filter((c) => !only || only.includes(c.id) || only.includes(c.baselineOf)),
    sizes,
  )
  const presence =
    !only || only.includes('presence')
      ? await measurePresence(smoke ? PRESENCE_SMOKE : PRESENCE_FULL)
      : undefined
  cancel()
  if (rows.length > 0)
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
  if (presence) printPresence(presence)
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
      presence,
      loadAverage: { start: loadAtStart, end: loadavg(), cores: availableParallelism() },
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
