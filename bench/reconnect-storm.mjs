// Reconnect storms, in one run: N clients subscribed to a channel that ticks every 100 ms, then
//   - crash: the server is SIGKILLed and started again on the same port after a downtime, with Holdfast's
//     client as shipped (full jitter) with and without an admission limit (`limits.connectionRate`, R per
//     second), with jitter off (lockstep), and the same storm with socket.io-client (socket.io server) and a
//     bare reconnecting-websocket client (ws server) as anchors;
//   - drain: SIGTERM, the server drains over N / R (every client told its own time to come back), and is
//     started again at once;
//   - rolling: two servers on one Redis behind a health-checking load balancer, restarted one after the other.
// For each: when every client resumed (received a tick published after the restart), the most connections
// the server admitted in any one-second window, arrivals per 100 ms, refusals, ticks lost and duplicated.
// Then what a refusal costs the server against an admission (CPU per connection).
// Holdfast's ticks come from a separate publisher straight into Redis, so ticks published while a server
// is down must come back from history. The anchors' servers tick from memory (they have no history).
// Run: node bench/reconnect-storm.mjs [--smoke] [--clients N] [--rate R] [--only id,id]
import os from 'node:os'
import { argvOptions, nowMs } from './lib/child.mjs'
import { sleep } from './lib/concurrency.mjs'
import { versionOf } from './lib/packages.mjs'
import { ChildGroup, deadline } from './lib/processes.mjs'
import { hasRedisServer, startRedis } from './lib/redis.mjs'
import { commandLine, num, printTable, runIfMain, writeResult } from './lib/results.mjs'
import { percentile } from './lib/stats.mjs'

const FULL = {
  clients: 1000,
  clientProcesses: 2,
  rate: 200,
  downMs: 2000,
  binMs: 100,
  tickMs: 100,
  // Longer than the client's stableAfterMs (5 s): the fleet has held its connections long enough that its
  // backoff counts are reset, as after any stable connection, before the server goes away.
  stableMs: 6000,
  settleMs: 1000,
  deliveryMs: 1500,
  resumeTimeoutMs: 60_000,
  costConnections: 1000,
}
const SMOKE = {
  clients: 20,
  clientProcesses: 1,
  rate: 20,
  downMs: 300,
  binMs: 100,
  tickMs: 100,
  stableMs: 200,
  settleMs: 200,
  deliveryMs: 500,
  resumeTimeoutMs: 15_000,
  costConnections: 20,
}

/** The rows, in the order they run and print. `--smoke` skips those whose code path another row runs. */
const SCENARIOS = [
  { id: 'jitter', label: 'Holdfast, full jitter (as shipped)', kind: 'holdfast', event: 'crash', full: true },
  {
    id: 'jitter-admission',
    label: 'Holdfast, full jitter, admission R',
    kind: 'holdfast',
    event: 'crash',
    limit: true,
  },
  {
    id: 'lockstep',
    label: 'Holdfast, no jitter (lockstep)',
    kind: 'holdfast',
    event: 'crash',
    lockstep: true,
    full: true,
  },
  {
    id: 'drain',
    label: 'Holdfast, SIGTERM drain over N / R, admission R',
    kind: 'holdfast',
    event: 'drain',
    limit: true,
  },
  {
    id: 'rolling',
    label: 'Holdfast, rolling restart of 2 servers on one Redis, admission R each',
    kind: 'holdfast',
    event: 'rolling',
    limit: true,
  },
  {
    id: 'socketio',
    label: `socket.io-client ${versionOf('socket.io-client')} defaults (socket.io server)`,
    kind: 'socketio',
    event: 'crash',
  },
  {
    id: 'rws',
    label: `reconnecting-websocket ${versionOf('reconnecting-websocket')} defaults (ws server)`,
    kind: 'rws',
    event: 'crash',
  },
]

const HOLDFAST_SERVER = 'procs/storm-server.mjs'
const ANCHOR_SERVER = 'procs/anchor-storm-server.mjs'

/** Server arguments for one scenario, on `port`. */
function serverArgs(s, sizes, { port, redis, seqStart }) {
  if (s.kind !== 'holdfast')
    return [
      '--kind',
      s.kind === 'socketio' ? 'socketio' : 'ws',
      '--port',
      String(port),
      '--seq-start',
      String(seqStart),
    ]
  return [
    '--port',
    String(port),
    '--redis',
    redis,
    ...(s.limit ? ['--connection-rate', String(sizes.rate)] : []),
    '--drain-ms',
    String(drainMs(sizes)),
  ]
}

/** The drain window: N / R, the time the admission rate needs for everyone. */
function drainMs(sizes) {
  return Math.round((sizes.clients / sizes.rate) * 1000)
}

async function spawnClients(group, s, url, sizes) {
  const per = Math.ceil(sizes.clients / sizes.clientProcesses)
  const split = Array.from({ length: sizes.clientProcesses }, (_, i) =>
    Math.min(per, sizes.clients - i * per),
  )
  const procs = await Promise.all(
    split.map((n) =>
      group.spawn('procs/storm-clients.mjs', {
        args: ['--kind', s.kind, '--url', url, '--count', String(n), '--jitter', s.lockstep ? 'off' : 'on'],
      }),
    ),
  )
  await Promise.all(procs.map((c) => c.call('open', { timeoutMs: 60_000 }, 70_000)))
  return procs
}

/**
 * Waits until the clients that dropped at or after `dropsAfter` (`all`: every client) have resumed;
 * resolves with the counts.
 */
async function waitResumed(clientProcs, query, timeoutMs, { all = true } = {}) {
  const giveUpAt = nowMs() + timeoutMs
  let progress
  do {
    await sleep(200)
    const parts = await Promise.all(clientProcs.map((c) => c.call('progress', query)))
    progress = parts.reduce((a, p) => ({
      total: a.total + p.total,
      dropped: a.dropped + p.dropped,
      resumed: a.resumed + p.resumed,
    }))
  } while (
    ((all && progress.dropped < progress.total) ||
      progress.dropped === 0 ||
      progress.resumed < progress.dropped) &&
    nowMs() < giveUpAt
  )
  return progress
}

/** Stops the ticks, lets the last ones arrive, and collects every client's record. */
async function finish(clientProcs, stopTicks, sizes) {
  const published = await stopTicks()
  await sleep(sizes.deliveryMs)
  const reports = (await Promise.all(clientProcs.map((c) => c.call('report')))).flat()
  await Promise.all(clientProcs.map((c) => c.call('close').catch(() => {})))
  return { published, reports }
}

async function crash(s, sizes) {
  const group = new ChildGroup()
  try {
    const holdfast = s.kind === 'holdfast'
    const redis = holdfast ? await startRedis(group) : undefined
    const script = holdfast ? HOLDFAST_SERVER : ANCHOR_SERVER
    let [server, publisher] = await Promise.all([
      group.spawn(script, { args: serverArgs(s, sizes, { port: 0, redis, seqStart: 1 }) }),
      holdfast && spawnPublisher(group, redis, sizes),
    ])
    const port = server.info.port
    const clientProcs = await spawnClients(group, s, `http://127.0.0.1:${port}`, sizes)
    // The replacement is up (Redis connected) before the kill and binds the port after exactly downMs. The
    // anchors' numbering goes on well past what the old server can tick meanwhile.
    const lastSeq = holdfast ? 0 : (await server.call('records')).published.at(-1)
    const replacement = await group.spawn(script, {
      args: [...serverArgs(s, sizes, { port, redis, seqStart: lastSeq + 1000 }), '--defer-listen'],
    })
    await sleep(sizes.stableMs)
    // The anchors' ticks die with their server: what it broadcast is read just before the kill.
    const before = holdfast ? [] : (await server.call('records')).published
    const killedAt = nowMs()
    server.kill()
    await sleep(sizes.downMs)
    const { listeningAt: upAt } = await replacement.call('listen')
    server = replacement
    await waitResumed(clientProcs, { dropsAfter: killedAt, publishedAfter: upAt }, sizes.resumeTimeoutMs)
    await sleep(sizes.settleMs)
    const { published, reports } = await finish(
      clientProcs,
      async () =>
        holdfast
          ? (await publisher.call('stop')).published
          : [...before, ...(await server.call('stop')).published],
      sizes,
    )
    const records = await server.call('records')
    return {
      ...summarize({ sizes, reports, published, dropsAfter: killedAt, publishedAfter: upAt, from: upAt }),
      servers: [serverSummary('server', records, upAt, sizes)],
      downMs: upAt - killedAt,
    }
  } finally {
    group.close()
  }
}

/**
 * SIGTERM: the server drains and says `stopped`; its records are read and its replacement (started
 * beforehand, as an orchestrator's next process would be) binds the same port at once.
 */
async function restartGracefully(group, server, args, sizes) {
  const next = await group.spawn(HOLDFAST_SERVER, { args: [...args, '--defer-listen'] })
  const sigtermAt = nowMs()
  const stopped = server.next('stopped', drainMs(sizes) + 30_000)
  server.signal('SIGTERM')
  await stopped
  const { listeningAt: upAt } = await next.call('listen')
  const records = await server.call('records')
  server.kill()
  return { sigtermAt, records, server: next, upAt }
}

function spawnPublisher(group, redis, sizes) {
  return group.spawn('procs/storm-publisher.mjs', {
    args: ['--redis', redis, '--tick-ms', String(sizes.tickMs)],
  })
}

async function drain(s, sizes) {
  const group = new ChildGroup()
  try {
    const redis = await startRedis(group)
    let [server, publisher] = await Promise.all([
      group.spawn(HOLDFAST_SERVER, { args: serverArgs(s, sizes, { port: 0, redis }) }),
      spawnPublisher(group, redis, sizes),
    ])
    const port = server.info.port
    const clientProcs = await spawnClients(group, s, `http://127.0.0.1:${port}`, sizes)
    await sleep(sizes.stableMs)
    const restart = await restartGracefully(group, server, serverArgs(s, sizes, { port, redis }), sizes)
    server = restart.server
    const { sigtermAt, upAt } = restart
    await waitResumed(clientProcs, { dropsAfter: sigtermAt, publishedAfter: upAt }, sizes.resumeTimeoutMs)
    await sleep(sizes.settleMs)
    const { published, reports } = await finish(
      clientProcs,
      async () => (await publisher.call('stop')).published,
      sizes,
    )
    const records = await server.call('records')
    return {
      ...summarize({ sizes, reports, published, dropsAfter: sigtermAt, publishedAfter: upAt, from: upAt }),
      servers: [serverSummary('server', records, upAt, sizes)],
      downMs: upAt - sigtermAt,
    }
  } finally {
    group.close()
  }
}

async function rolling(s, sizes) {
  const group = new ChildGroup()
  try {
    const redis = await startRedis(group)
    const [A, B, publisher] = await Promise.all([
      group.spawn(HOLDFAST_SERVER, { args: serverArgs(s, sizes, { port: 0, redis }) }),
      group.spawn(HOLDFAST_SERVER, { args: serverArgs(s, sizes, { port: 0, redis }) }),
      spawnPublisher(group, redis, sizes),
    ])
    const servers = { A, B }
    const ports = { A: A.info.port, B: B.info.port }
    const balancer = await group.spawn('procs/storm-balancer.mjs', {
      args: ['--upstreams', `${ports.A},${ports.B}`],
    })
    while ((await balancer.call('healthy')).length < 2) await sleep(50)
    const clientProcs = await spawnClients(group, s, `http://127.0.0.1:${balancer.info.port}`, sizes)
    await sleep(sizes.stableMs)
    const startedAt = nowMs()
    const records = { A: [], B: [] }
    const phases = []
    let firstSigtermAt
    for (const name of ['A', 'B']) {
      const restart = await restartGracefully(
        group,
        servers[name],
        serverArgs(s, sizes, { port: ports[name], redis }),
        sizes,
      )
      servers[name] = restart.server
      records[name].push(restart.records)
      const { sigtermAt } = restart
      firstSigtermAt ??= sigtermAt
      // Those it sent away are back (elsewhere or on its new incarnation) once they hear a tick sent since.
      const progress = await waitResumed(
        clientProcs,
        { dropsAfter: sigtermAt, publishedAfter: sigtermAt },
        sizes.resumeTimeoutMs,
        { all: false },
      )
      const reports = (await Promise.all(clientProcs.map((c) => c.call('report')))).flat()
      const times = resumeTimes(reports, sigtermAt, sigtermAt).map((r) => r - sigtermAt)
      phases.push({
        name,
        clients: progress.dropped,
        resumed: progress.resumed,
        fullResumeMs: times.length === progress.dropped ? Math.max(...times) : null,
        restartedAfterMs: restart.upAt - sigtermAt,
        times,
      })
      await sleep(sizes.stableMs)
    }
    const { published, reports } = await finish(
      clientProcs,
      async () => (await publisher.call('stop')).published,
      sizes,
    )
    for (const name of ['A', 'B']) records[name].push(await servers[name].call('records'))
    const merged = (name) => ({
      arrivals: records[name].flatMap((r) => r.arrivals),
      admitted: records[name].flatMap((r) => r.admitted),
      refused: records[name].flatMap((r) => r.refused),
      cpuUs: records[name].reduce((a, r) => a + r.cpuUs, 0),
    })
    const summary = summarize({
      sizes,
      reports,
      published,
      dropsAfter: startedAt,
      publishedAfter: startedAt,
      from: startedAt,
    })
    const times = phases.flatMap((p) => p.times)
    return {
      ...summary,
      // Per phase, from the SIGTERM: every client a server sent away, back elsewhere; the slower phase.
      resumeP50Ms: percentile(times, 50),
      resumeP95Ms: percentile(times, 95),
      resumedBins: undefined,
      fullResumeMs: phases.every((p) => p.fullResumeMs !== null)
        ? Math.max(...phases.map((p) => p.fullResumeMs))
        : null,
      phases: phases.map(({ times: _, ...p }) => p),
      servers: ['A', 'B'].map((name) => serverSummary(name, merged(name), firstSigtermAt, sizes)),
    }
  } finally {
    group.close()
  }
}

/** Per client: when it first heard a tick published at or after `publishedAfter`, after its first drop since `dropsAfter`. */
function resumeTimes(reports, dropsAfter, publishedAfter) {
  const times = []
  for (const c of reports) {
    const drop = c.drops.find((d) => d >= dropsAfter)
    if (drop === undefined) continue
    const after = Math.max(drop, publishedAfter)
    for (let i = 0; i < c.receipts.length; i += 3) {
      if (c.receipts[i + 2] >= drop && c.receipts[i + 1] >= after) {
        times.push(c.receipts[i + 2])
        break
      }
    }
  }
  return times
}

/** Ticks each client never got (of those published since its first one) and got more than once. */
function lossAndDuplicates(reports, published) {
  let lost = 0
  let duplicated = 0
  let clientsWithLoss = 0
  for (const c of reports) {
    const seen = new Set()
    for (let i = 0; i < c.receipts.length; i += 3) {
      if (seen.has(c.receipts[i])) duplicated++
      seen.add(c.receipts[i])
    }
    const first = c.receipts[0]
    let missing = 0
    for (const seq of published) if (seq >= first && !seen.has(seq)) missing++
    lost += missing
    if (missing) clientsWithLoss++
  }
  return { lost, duplicated, clientsWithLoss }
}

/** The most values of `times` in any half-open one-second window. */
function busiestSecond(times) {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= 1000) j++
    most = Math.max(most, i - j + 1)
  }
  return most
}

function bin(times, from, binMs) {
  const bins = []
  for (const at of times) {
    const i = Math.floor((at - from) / binMs)
    if (i < 0) continue
    while (bins.length <= i) bins.push(0)
    bins[i]++
  }
  return bins
}

function serverSummary(name, records, from, sizes) {
  return {
    name,
    arrivals: records.arrivals.length,
    admitted: records.admitted.length,
    refused: records.refused.length,
    peakAdmittedPerSecond: busiestSecond(records.admitted),
    peakArrivalsPerBin: Math.max(0, ...bin(records.arrivals, from, sizes.binMs)),
    cpuMs: records.cpuUs / 1000,
    arrivalBins: bin(records.arrivals, from, sizes.binMs),
    admittedBins: bin(records.admitted, from, sizes.binMs),
  }
}

function summarize({ sizes, reports, published, dropsAfter, publishedAfter, from }) {
  const resumedAt = resumeTimes(reports, dropsAfter, publishedAfter)
  const dropped = reports.filter((c) => c.drops.some((d) => d >= dropsAfter)).length
  const times = resumedAt.map((at) => at - from)
  return {
    clients: reports.length,
    dropped,
    resumed: resumedAt.length,
    fullResumeMs: resumedAt.length === reports.length ? Math.max(...times) : null,
    resumeP50Ms: percentile(times, 50),
    resumeP95Ms: percentile(times, 95),
    resumedBins: cumulative(bin(resumedAt, from, sizes.binMs)),
    gaps: reports.reduce((a, c) => a + c.gaps, 0),
    published: published.length,
    ...lossAndDuplicates(reports, published),
  }
}

function cumulative(bins) {
  let total = 0
  return bins.map((v) => (total += v))
}

/**
 * What the server spends on a refused connection against an admitted one: raw protocol connections
 * (upgrade, `connect`; admitted ones then resubscribe from a cursor ten ticks back, as a resuming client
 * does) against a server whose admission refuses everyone, then against one without a limit.
 */
async function refusalCost(sizes) {
  const group = new ChildGroup()
  try {
    const redis = await startRedis(group)
    const publisher = await group.spawn('procs/storm-publisher.mjs', {
      args: ['--redis', redis, '--tick-ms', '100'],
    })
    const start = async (serverArgs) => {
      const server = await group.spawn(HOLDFAST_SERVER, {
        args: ['--port', '0', '--redis', redis, ...serverArgs],
      })
      const driver = await group.spawn('procs/connect-driver.mjs', {
        args: ['--url', `ws://127.0.0.1:${server.info.port}`],
      })
      return { server, driver }
    }
    const measure = async ({ server, driver }, outcome, since) => {
      await sleep(200)
      const before = (await server.call('records')).cpuUs
      const outcomes = await driver.call('run', { count: sizes.costConnections, since }, 300_000)
      const cpuUs = (await server.call('records')).cpuUs - before
      await driver.call('close')
      return {
        outcomes,
        usPer: cpuUs / (outcomes[outcome] ?? Number.NaN),
        ok: outcomes[outcome] === sizes.costConnections,
      }
    }
    // The refusing server's one admission (a fresh server's first slot) reads the cursor to resume from;
    // ten ticks later the publisher stops, so every admission replays the same ten.
    const refusing = await start(['--connection-rate', '0.001'])
    const since = await refusing.driver.call('cursor')
    await sleep(10 * 100 + 50)
    await publisher.call('stop')
    const refusal = await measure(refusing, 'refused', since)
    const admission = await measure(await start([]), 'admitted', since)
    return {
      connections: sizes.costConnections,
      refusalUs: refusal.usPer,
      admissionUs: admission.usPer,
      ratio: admission.usPer / refusal.usPer,
      refusalOutcomes: refusal.outcomes,
      admissionOutcomes: admission.outcomes,
      ok: refusal.ok && admission.ok,
    }
  } finally {
    group.close()
  }
}

const RUNNERS = { crash, drain, rolling }

function sizesFor(smoke) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  const options = argvOptions()
  if (options.clients) sizes.clients = Number(options.clients)
  if (options.rate) sizes.rate = Number(options.rate)
  if (options['client-processes']) sizes.clientProcesses = Number(options['client-processes'])
  return sizes
}

/** The goal figures of issue 15, checked against this run's rows. */
function goals(rows, sizes, cost) {
  const by = Object.fromEntries(rows.filter((r) => !r.error).map((r) => [r.id, r]))
  const limitMs = (sizes.clients / sizes.rate) * 1000
  const out = []
  const add = (goal, met, figure) => out.push({ goal, met, figure })
  const a = by['jitter-admission']
  if (a)
    add(
      `admission R = ${sizes.rate}: never more than R admitted in any 1-s window`,
      a.servers[0].peakAdmittedPerSecond <= sizes.rate,
      `${num(a.servers[0].peakAdmittedPerSecond)} at most`,
    )
  if (a)
    add(
      `admission R: every client resumed within 1.2 x N / R = ${num(1.2 * limitMs)} ms of the restart`,
      a.fullResumeMs !== null && a.fullResumeMs <= 1.2 * limitMs,
      `${num(a.fullResumeMs)} ms (${num(a.fullResumeMs / limitMs, 2)} x N / R)`,
    )
  for (const id of ['jitter', 'jitter-admission', 'lockstep', 'drain', 'rolling'])
    if (by[id])
      add(
        `${by[id].label}: nothing lost, nothing duplicated, no gap`,
        by[id].lost === 0 &&
          by[id].duplicated === 0 &&
          by[id].gaps === 0 &&
          by[id].resumed === by[id].clients,
        `${num(by[id].lost)} lost, ${num(by[id].duplicated)} duplicated, ${num(by[id].gaps)} gaps`,
      )
  if (by.jitter && by.socketio)
    add(
      'no limit: full jitter resumes everyone no later than socket.io-client',
      by.jitter.fullResumeMs !== null &&
        by.jitter.fullResumeMs <= (by.socketio.fullResumeMs ?? Number.POSITIVE_INFINITY),
      `${num(by.jitter.fullResumeMs)} ms vs ${num(by.socketio.fullResumeMs)} ms`,
    )
  if (by.jitter && by.lockstep)
    add(
      'no limit: full jitter peaks lower than lockstep (arrivals per 100 ms)',
      by.jitter.servers[0].peakArrivalsPerBin < by.lockstep.servers[0].peakArrivalsPerBin,
      `${num(by.jitter.servers[0].peakArrivalsPerBin)} vs ${num(by.lockstep.servers[0].peakArrivalsPerBin)}`,
    )
  if (by.rolling)
    for (const server of by.rolling.servers)
      add(
        `rolling restart: server ${server.name} never admits more than R in any 1-s window`,
        server.peakAdmittedPerSecond <= sizes.rate,
        `${num(server.peakAdmittedPerSecond)} at most`,
      )
  if (cost?.ok)
    add(
      'a refusal costs the server far less CPU than an admission',
      cost.ratio >= 3,
      `${num(cost.refusalUs)} µs vs ${num(cost.admissionUs)} µs (${num(cost.ratio, 1)}x)`,
    )
  return out
}

export async function run({ smoke }) {
  const sizes = sizesFor(smoke)
  const only = argvOptions().only?.split(',')
  if (!hasRedisServer()) {
    console.log('reconnect-storm: skipped, redis-server is not installed (apt-get install -y redis-server)')
    return [{ id: 'all', error: 'redis-server not installed' }]
  }
  const cancel = deadline(smoke ? 85_000 : 20 * 60_000, 'reconnect-storm')
  const loadBefore = os.loadavg()
  const rows = []
  let cost
  try {
    for (const s of SCENARIOS) {
      if ((only && !only.includes(s.id)) || (smoke && s.full && !only)) continue
      process.stdout.write(`reconnect-storm: ${s.label} ... `)
      const rowStartedAt = nowMs()
      try {
        const row = { id: s.id, label: s.label, event: s.event, ...(await RUNNERS[s.event](s, sizes)) }
        console.log(
          `full resume ${num(row.fullResumeMs)} ms, peak admitted ${row.servers.map((x) => num(x.peakAdmittedPerSecond)).join(' / ')} per 1 s, ` +
            `lost ${num(row.lost)}, duplicated ${num(row.duplicated)} (${num((nowMs() - rowStartedAt) / 1000, 1)} s)`,
        )
        rows.push(row)
      } catch (error) {
        const message = String(error?.message ?? error).split('\n')[0]
        console.log(`failed: ${message}`)
        rows.push({ id: s.id, label: s.label, error: message })
      }
    }
    if (!only || only.includes('cost')) {
      process.stdout.write('reconnect-storm: refusal cost ... ')
      cost = await refusalCost(sizes)
      console.log(`${num(cost.refusalUs)} µs per refusal, ${num(cost.admissionUs)} µs per admission`)
      if (!cost.ok)
        rows.push({ id: 'cost', error: `refusal cost: unexpected outcomes ${JSON.stringify(cost)}` })
    }
  } finally {
    cancel()
  }
  const loadAfter = os.loadavg()
  const limitMs = (sizes.clients / sizes.rate) * 1000
  printTable(
    `Reconnect storms: ${num(sizes.clients)} clients, R = ${sizes.rate}/s (N / R = ${num(limitMs)} ms), ` +
      `crash: killed and back after ${num(sizes.downMs)} ms; load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`,
    [
      'scenario',
      'resumed',
      'full resume (ms)',
      'vs N / R',
      'p50 / p95 (ms)',
      'peak admitted in 1 s',
      'peak arrivals / 100 ms',
      'refusals',
      'server CPU (ms)',
      'lost',
      'duplicated',
      'gaps',
    ],
    rows.map((r) =>
      r.error
        ? [r.label ?? r.id, `failed: ${r.error}`, '', '', '', '', '', '', '', '', '', '']
        : [
            r.label,
            `${num(r.resumed)} / ${num(r.clients)}`,
            num(r.fullResumeMs),
            r.fullResumeMs === null ? 'n/a' : `${num(r.fullResumeMs / limitMs, 2)}x`,
            `${num(r.resumeP50Ms)} / ${num(r.resumeP95Ms)}`,
            r.servers.map((x) => num(x.peakAdmittedPerSecond)).join(' / '),
            r.servers.map((x) => num(x.peakArrivalsPerBin)).join(' / '),
            num(r.servers.reduce((a, x) => a + x.refused, 0)),
            r.servers.map((x) => num(x.cpuMs)).join(' / '),
            num(r.lost),
            num(r.duplicated),
            r.id === 'socketio' || r.id === 'rws' ? 'n/a' : num(r.gaps),
          ],
    ),
  )
  const checks = goals(rows, sizes, cost)
  printTable(
    'Goals (issue 15)',
    ['goal', 'met', 'figure'],
    checks.map((g) => [g.goal, g.met ? 'yes' : 'NO', g.figure]),
  )
  console.log(
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
  )
  const name =
    !smoke && sizes.clients !== FULL.clients ? `reconnect-storm-n${sizes.clients}` : 'reconnect-storm'
  const path = await writeResult(name, {
    smoke,
    command: commandLine('reconnect-storm.mjs'),
    data: {
      sizes: { ...sizes, drainMs: drainMs(sizes) },
      load: { before: loadBefore, after: loadAfter },
      method:
        `${num(sizes.clients)} clients in ${sizes.clientProcesses} process(es), all subscribed to one channel that ticks every ` +
        `${sizes.tickMs} ms. Holdfast: real @holdfast/client instances (WebSocket, default backoff) against the ` +
        'Holdfast server with history in a throwaway Redis; the ticks come from a separate publisher straight into ' +
        'Redis, so ticks published while a server is down must come back from history. Crash: SIGKILL, the same port ' +
        `listens again after ${num(sizes.downMs)} ms. Drain: SIGTERM with drainMs = N / R, restarted at once. Rolling: two ` +
        'servers on one Redis behind a TCP load balancer that routes new connections to the servers whose /health ' +
        'answers 200 (checked every 100 ms); each is drained and restarted in turn. Anchors: socket.io-client and ' +
        'reconnecting-websocket with their defaults against a socket.io server and a ws server that tick from memory. ' +
        'Resumed = received a tick published after the restart (rolling: after its server was told to stop). Peak ' +
        'admitted = the most welcomes (anchors: connection events) the server sent in any one-second window, on its own ' +
        'clock. Lost = ticks published since a client first heard one that it never received; duplicated = ticks ' +
        'received twice. Refusal cost: server CPU (process.cpuUsage) per raw protocol connection refused by the ' +
        'admission (upgrade, connect, close 4003) against one admitted (upgrade, connect, welcome, resubscribe from a ' +
        'cursor ten ticks back, replay).',
      rows,
      cost,
      goals: checks,
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
