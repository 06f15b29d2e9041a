// Writes bench/RESULTS.md and the SVG plots in bench/results/ from the latest bench/results/*.json.
// Every benchmark calls this after a full run; run it alone with: node bench/report.mjs
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { isMain, markdownTable, num, RESULTS_DIR, readResult } from './lib/results.mjs'
import { barChart, binChart } from './lib/svg.mjs'

const RESULTS_MD = fileURLToPath(new URL('./RESULTS.md', import.meta.url))

function ran(result) {
  return `Command: \`${result.command}\` · ${result.date.slice(0, 16).replace('T', ' ')} UTC · commit \`${result.commit}\``
}

function ratio(value, base) {
  return Number.isFinite(value) && Number.isFinite(base) && base > 0 ? `${(value / base).toFixed(2)}x` : 'n/a'
}

async function svg(name, content) {
  await writeFile(`${RESULTS_DIR}${name}.svg`, content)
  return `![${name}](results/${name}.svg)`
}

async function bundleSection(r) {
  const ok = r.rows.filter((x) => !x.error && !x.skipped)
  const table = markdownTable(
    ['library', 'version', 'min', 'gzip', 'brotli', 'gzip vs floor'],
    r.rows.map((x) =>
      x.error || x.skipped
        ? [
            x.ours ? `**${x.label}**` : x.label,
            x.version,
            `not measured: ${x.error ?? x.skipped}`,
            '',
            '',
            '',
          ]
        : [
            x.ours ? `**${x.label}**` : x.label,
            x.version,
            num(x.min),
            num(x.gzip),
            num(x.brotli),
            `${num(x.gzipVsFloor, 2)}x`,
          ],
    ),
  )
  const chart = await svg(
    'bundle-size',
    barChart({
      title: 'Bundle size, gzip -9 (bytes; smaller is better)',
      subtitle:
        'esbuild bundle + minify, platform browser, format esm, whole public API, dependencies included',
      unit: ' B',
      bars: ok.map((x) => ({
        label: x.label.replace(' (IIFE, as shipped)', ' (IIFE)'),
        value: x.gzip,
        highlight: x.ours,
      })),
    }),
  )
  const b = r.budget
  const contents = r.fullClientContents
  const breakdown =
    contents && !contents.error
      ? [
          '',
          `What the full client is made of (built from its sources: ${num(contents.fromSource.min)} B min, ` +
            `${num(contents.fromSource.gzip)} B gzip; minified bytes per package and the largest inputs; ` +
            '`node bench/size-report.mjs` prints all of it):',
          '',
          markdownTable(
            ['package', 'min bytes', 'share'],
            contents.packages.map((p) => [
              p.name,
              num(p.bytes),
              `${((p.bytes / contents.fromSource.min) * 100).toFixed(1)} %`,
            ]),
          ),
          '',
          markdownTable(
            ['input', 'min bytes'],
            contents.inputs.map((i) => [`\`${i.path}\``, num(i.bytes)]),
          ),
        ].join('\n')
      : ''
  return [
    '## 1. Bundle size',
    '',
    ran(r),
    '',
    r.method,
    '',
    table,
    '',
    b.anchor
      ? `Target (issue 11): the root entry \`@holdfast/client\` no larger than ${b.anchor} (gzip, measured in the same run, ` +
        `${num(b.anchorGzip)} B). Measured ${num(b.measuredGzip)} B: ` +
        `**${b.within ? `within, ${num(b.anchorGzip - b.measuredGzip)} B under` : `over by ${num(b.measuredGzip - b.anchorGzip)} B`}**. ` +
        'CI holds every entry to its budget with `npx size-limit` (`.size-limit.cjs`); `node bench/size-report.mjs` lists what the bundle is made of.'
      : `Budget (issue 7): full client ≤ ${num(b.fullClientGzip)} B gzip. Measured ${num(b.measuredGzip)} B.`,
    breakdown,
    '',
    chart,
  ].join('\n')
}

async function fanoutSection(r) {
  const s = r.sizes
  const base = (t) => r.rows.find((x) => !x.ours && x.transport === t && !x.error && /plain/.test(x.label))
  const table = markdownTable(
    [
      'server',
      'transport',
      'server CPU µs / 1,000 deliveries',
      'vs plain loop',
      'user / system µs',
      'delivered msg/s',
      'p50 ms',
      'p99 ms',
      'lost',
    ],
    r.rows.map((x) =>
      x.error
        ? [x.label, x.transport, `failed: ${x.error}`, '', '', '', '', '', '']
        : [
            x.ours ? `**${x.label}**` : x.label,
            x.transport,
            num(x.cpuUsPer1000),
            ratio(x.cpuUsPer1000, base(x.transport)?.cpuUsPer1000),
            `${num(x.userUsPer1000)} / ${num(x.systemUsPer1000)}`,
            num(x.msgPerSec),
            num(x.paced.p50Ms, 1),
            num(x.paced.p99Ms, 1),
            num(x.lost),
          ],
    ),
  )
  const chart = await svg(
    'fanout-cpu',
    barChart({
      title: `Fan-out to ${num(s.connections)} subscribers: server CPU per 1,000 deliveries (µs; smaller is better)`,
      subtitle: 'process.cpuUsage() of the server process, median of burst rounds',
      unit: ' µs',
      bars: r.rows
        .filter((x) => !x.error)
        .map((x) => ({
          label: `${x.label} (${x.transport})`,
          value: Math.round(x.cpuUsPer1000),
          highlight: x.ours,
        })),
    }),
  )
  return [
    '## 2. Fan-out',
    '',
    ran(r),
    '',
    ...(r.loadAverage
      ? [
          `Load average (1 min) on the ${r.loadAverage.cores} cores: ${r.loadAverage.start[0].toFixed(1)} at the start, ` +
            `${r.loadAverage.end[0].toFixed(1)} at the end${r.loadAverage.start[0] > r.loadAverage.cores ? ': other jobs shared the machine, so CPU per delivery is inflated for every row alike; compare within the run' : ''}.`,
          '',
        ]
      : []),
    r.method,
    '',
    `Sizes: ${num(s.connections)} subscribers in ${s.subscriberProcesses} process(es); bursts of ${s.burst} messages ` +
      `(${num(s.burst * s.connections)} deliveries) x ${s.rounds} rounds; latency from ${s.paced} messages, one every ` +
      `${s.intervalMs} ms; payload ~${s.payloadBytes} B.`,
    '',
    table,
    '',
    'Read the CPU column first: the subscribers share the two cores with the server, so msg/s and latency are ' +
      'bounded by the subscriber side (1,000 sockets drained by one process) and swing between runs; latency ' +
      'is how long the last of 1,000 sockets waits for one message, not a per-socket figure.',
    '',
    chart,
    ...(r.presence ? ['', presenceSubsection(r.presence)] : []),
  ].join('\n')
}

/** Presence, measured in the same run as the fan-out rows (fanout.mjs `measurePresence`). */
function presenceSubsection({ sizes, memory, rows }) {
  const events = markdownTable(
    [
      'event',
      `server CPU µs per event (to ${num(sizes.watchers)} watchers)`,
      'server CPU µs / 1,000 deliveries',
      'deliveries/s',
      'lost',
    ],
    rows.map((x) => [x.kind, num(x.cpuUsPerEvent), num(x.cpuUsPer1000), num(x.eventsPerSec), num(x.lost)]),
  )
  const perMember = markdownTable(
    [
      'members',
      'heap B per member, with its join event in the log',
      'heap B per member, log full on both sides',
      'RSS B per member',
      'RSS B per member, still held after all left',
    ],
    [
      [
        num(memory.members),
        num(memory.heapBytesPerMember),
        num(memory.heapBytesPerMemberLogFull),
        num(memory.rssBytesPerMember),
        num((memory.afterLeave.rss - memory.before.rss) / memory.members),
      ],
    ],
  )
  return [
    '### Presence: join/leave fan-out and memory per member',
    '',
    `Holdfast over WebSocket, in-memory broker, same run. ${num(sizes.watchers)} watchers subscribe to ` +
      `\`bench.room~presence\` (raw sockets in one process); per round ${sizes.events} members enter (each declares ` +
      `\`{"info":{"name":…}}\` on its enter channel, then subscribes to it, as \`@holdfast/client/presence\` does), ` +
      `then the same ${sizes.events} leave (unsubscribe); median of ${sizes.rounds} rounds. Server CPU = process.cpuUsage() ` +
      'of the server process from the first enter (or leave) request until the last watcher has the last event, ' +
      "divided by events: it includes handling the members' own requests, not only the fan-out. deliveries/s is " +
      'bounded by how fast the members ask (20 requests in flight), not by the server.',
    '',
    events,
    '',
    `Memory: ${num(memory.members)} members of one channel, nobody watching: the server's heap and RSS after GC ` +
      'with the same WebSocket connections open, before they entered and once all were present, divided by members ' +
      '(member record, deadline, enter subscription, declared info; not the connection itself). Each join is also ' +
      "an event in the channel's presence log, which keeps the last `history.size` (1,000) events: the first column " +
      'counts it; the second compares all present with all left (the log then full of leaves), which leaves the ' +
      'members alone. RSS is a high-water mark: what it grew by while members entered (4,000 requests in a burst) ' +
      'and did not give back after all left is the allocator keeping memory, not memory each member holds.',
    '',
    perMember,
  ].join('\n')
}

async function memorySection(r) {
  const base = (t) => r.rows.find((x) => !x.ours && x.transport === t && !x.error && /plain/.test(x.label))
  const table = markdownTable(
    ['server', 'transport', 'RSS / conn (B)', 'vs plain', 'JS heap / conn (B)', 'external / conn (B)'],
    r.rows.map((x) =>
      x.error
        ? [x.label, x.transport, `failed: ${x.error}`, '', '', '']
        : [
            x.ours ? `**${x.label}**` : x.label,
            x.transport,
            num(x.rssPerConn),
            ratio(x.rssPerConn, base(x.transport)?.rssPerConn),
            num(x.heapPerConn),
            num(x.externalPerConn),
          ],
    ),
  )
  const chart = await svg(
    'idle-memory',
    barChart({
      title: `Memory per idle connection at ${num(r.sizes.connections)} connections (RSS bytes; smaller is better)`,
      subtitle: 'server process, after gc(), (after - before) / connections',
      unit: ' B',
      bars: r.rows
        .filter((x) => !x.error)
        .map((x) => ({
          label: `${x.label} (${x.transport})`,
          value: Math.round(x.rssPerConn),
          highlight: x.ours,
        })),
    }),
  )
  return ['## 3. Memory per idle connection', '', ran(r), '', r.method, '', table, '', chart].join('\n')
}

async function receiveSection(r) {
  const byId = Object.fromEntries(r.rows.map((x) => [x.id, x]))
  const rival = { 'holdfast-ws': 'socketio', 'holdfast-sse': 'eventsource' }
  const table = markdownTable(
    [
      'client',
      'version',
      'transport',
      'msg/s',
      'client CPU µs / msg',
      'CPU vs the other client on this transport',
    ],
    r.rows.map((x) =>
      x.error
        ? [x.label, '', x.transport, `failed: ${x.error}`, '', '']
        : [
            x.ours ? `**${x.label}**` : x.label,
            x.version,
            x.transport,
            num(x.msgPerSec),
            num(x.cpuUsPerMsg, 2),
            x.ours ? ratio(x.cpuUsPerMsg, byId[rival[x.id]]?.cpuUsPerMsg) : '',
          ],
    ),
  )
  const chart = await svg(
    'client-receive',
    barChart({
      title: 'Client receive cost: CPU per message (µs; smaller is better)',
      subtitle: `${num(r.sizes.messages)} messages, same stream per transport, median of ${r.sizes.runs} fresh processes`,
      unit: ' µs',
      bars: r.rows
        .filter((x) => !x.error)
        .map((x) => ({ label: x.label, value: Number(x.cpuUsPerMsg.toFixed(2)), highlight: x.ours })),
    }),
  )
  return ['## 4. Client receive cost (Node)', '', ran(r), '', r.method, '', table, '', chart].join('\n')
}

/** Holdfast rows in blues, the anchors in greys and amber. */
const STORM_COLORS = {
  jitter: '#2563eb',
  'jitter-admission': '#0f766e',
  lockstep: '#dc2626',
  drain: '#2563eb',
  socketio: '#6b7280',
  rws: '#f59e0b',
}

function stormTable(r) {
  const limitMs = (r.sizes.clients / r.sizes.rate) * 1000
  return markdownTable(
    [
      'scenario',
      'resumed',
      'full resume (ms)',
      'vs N / R',
      'resume p50 / p95 (ms)',
      'peak admitted in any 1 s',
      'peak arrivals / 100 ms',
      'refusals',
      'server CPU (ms)',
      'lost',
      'duplicated',
      'gaps',
    ],
    r.rows.map((x) =>
      x.error
        ? [x.label ?? x.id, `failed: ${x.error}`, '', '', '', '', '', '', '', '', '', '']
        : [
            /^Holdfast/.test(x.label) ? `**${x.label}**` : x.label,
            `${num(x.resumed)} / ${num(x.clients)}`,
            num(x.fullResumeMs),
            x.fullResumeMs === null ? 'n/a' : `${num(x.fullResumeMs / limitMs, 2)}x`,
            `${num(x.resumeP50Ms)} / ${num(x.resumeP95Ms)}`,
            x.servers.map((v) => num(v.peakAdmittedPerSecond)).join(' / '),
            x.servers.map((v) => num(v.peakArrivalsPerBin)).join(' / '),
            num(x.servers.reduce((a, v) => a + v.refused, 0)),
            x.servers.map((v) => num(v.cpuMs)).join(' / '),
            num(x.lost),
            num(x.duplicated),
            x.id === 'socketio' || x.id === 'rws' ? 'n/a' : num(x.gaps),
          ],
    ),
  )
}

function stormSizes(r) {
  const s = r.sizes
  const load = r.load
    ? ` Load average (1/5/15 min) at the start: ${r.load.before.map((l) => l.toFixed(1)).join(' / ')}.`
    : ''
  return (
    `N = ${num(s.clients)} clients, R = ${num(s.rate)} admissions/s (N / R = ${num((s.clients / s.rate) * 1000)} ms), ` +
    `crash downtime ${num(s.downMs)} ms, drain window ${num(s.drainMs)} ms, ticks every ${s.tickMs} ms.${load}`
  )
}

function stormGoals(r) {
  return markdownTable(
    ['goal (issue 15)', 'met', 'this run'],
    (r.goals ?? []).map((g) => [g.goal, g.met ? 'yes' : '**no**', g.figure]),
  )
}

async function stormSection(r) {
  if (!r.rows?.some((x) => x.servers))
    return `## 5. Reconnect storms\n\nOld result format: run \`node bench/reconnect-storm.mjs\`.`
  const s = r.sizes
  const ok = r.rows.filter((x) => !x.error)
  const crash = ok.filter((x) => x.event === 'crash')
  const rolling = ok.find((x) => x.id === 'rolling')
  const drain = ok.find((x) => x.id === 'drain')
  const admitted = await svg(
    'reconnect-storm',
    binChart({
      title: `Crash and restart: connections admitted per ${s.binMs} ms`,
      subtitle: `${num(s.clients)} clients, server killed, listening again after ${num(s.downMs)} ms; x = time since it listens again`,
      binMs: s.binMs,
      yLabel: `admitted per ${s.binMs} ms`,
      series: crash.map((x) => ({
        name: x.label.replace(' (as shipped)', ''),
        values: x.servers[0].admittedBins,
        color: STORM_COLORS[x.id],
      })),
    }),
  )
  const resumed = await svg(
    'reconnect-storm-resume',
    binChart({
      title: 'Crash and restart: clients resumed so far',
      subtitle:
        'resumed = received a tick published after the restart; x = time since the server listens again',
      binMs: s.binMs,
      yLabel: 'clients resumed',
      series: crash.map((x) => ({
        name: x.label.replace(' (as shipped)', ''),
        values: x.resumedBins,
        color: STORM_COLORS[x.id],
      })),
    }),
  )
  const graceful = await svg(
    'reconnect-storm-graceful',
    binChart({
      title: `Graceful restarts: connections admitted per ${s.binMs} ms, per server`,
      subtitle: `drain over ${num(s.drainMs)} ms: x = since the new process listens; rolling restart: x = since the first SIGTERM`,
      binMs: s.binMs,
      yLabel: `admitted per ${s.binMs} ms`,
      series: [
        ...(drain
          ? [{ name: 'SIGTERM drain, restarted', values: drain.servers[0].admittedBins, color: '#2563eb' }]
          : []),
        ...(rolling
          ? rolling.servers.map((v, i) => ({
              name: `rolling restart, server ${v.name}`,
              values: v.admittedBins,
              color: ['#0f766e', '#f59e0b'][i],
            }))
          : []),
      ],
    }),
  )
  const phases = rolling
    ? markdownTable(
        ['rolling restart', 'clients sent away', 'all back after (ms)', 'replacement listening after (ms)'],
        rolling.phases.map((p) => [
          `server ${p.name} drained`,
          num(p.clients),
          num(p.fullResumeMs),
          num(p.restartedAfterMs),
        ]),
      )
    : ''
  const c = r.cost
  const cost = c
    ? `**Refusal cost** (${num(c.connections)} connections each): a connection refused by the admission costs the server ` +
      `${num(c.refusalUs)} µs of CPU, an admitted one ${num(c.admissionUs)} µs (${num(c.ratio, 2)}x).`
    : ''
  return [
    '## 5. Reconnect storms',
    '',
    ran(r),
    '',
    r.method,
    '',
    stormSizes(r),
    '',
    stormTable(r),
    '',
    phases,
    '',
    cost,
    '',
    stormGoals(r),
    '',
    admitted,
    '',
    resumed,
    '',
    graceful,
  ].join('\n')
}

/** The same storms at another size (`--clients`), table only. */
function stormAtSizeSection(r) {
  if (!r.rows?.some((x) => x.servers)) return ''
  const c = r.cost
  return [
    `### Reconnect storms at N = ${num(r.sizes.clients)}`,
    '',
    ran(r),
    '',
    stormSizes(r),
    '',
    stormTable(r),
    '',
    c ? `Refusal cost: ${num(c.refusalUs)} µs per refusal, ${num(c.admissionUs)} µs per admission.` : '',
    '',
    stormGoals(r),
  ].join('\n')
}

function scaleOutSection(r) {
  const s = r.sizes
  const fanout = markdownTable(
    [
      'Redis',
      'server processes',
      'deliveries/s',
      'server CPU µs / 1,000 deliveries',
      'per process',
      'Redis CPU µs / publish',
      'Redis commands / publish',
      'bytes in / out of Redis per publish',
      'server CPU µs / notification heard',
      'lost',
    ],
    r.rows.map((x) =>
      x.error
        ? [x.label, String(x.processes), `failed: ${x.error}`, '', '', '', '', '', '', '']
        : [
            x.label,
            String(x.processes),
            num(x.msgPerSec),
            num(x.cpuUsPer1000),
            x.perProcessUsPer1000.map((v) => num(v)).join(' + '),
            x.backend === 'memory' ? '' : num(x.redisCpuUsPerPublish),
            x.backend === 'memory' ? '' : num(x.commandsPerPublish, 1),
            x.backend === 'memory' ? '' : `${num(x.inBytesPerPublish)} / ${num(x.outBytesPerPublish)}`,
            x.serverUsPerNotification === undefined ? '' : num(x.serverUsPerNotification, 1),
            num(x.lost),
          ],
    ),
  )
  const memory = markdownTable(
    [
      'transport',
      'connection with 1 subscription: RSS / heap (B)',
      'extra subscription, shared channel (B)',
      'extra subscription, channel of its own (B)',
    ],
    r.memory.map((m) => [
      m.kind === 'holdfast-ws' ? 'WebSocket' : 'SSE',
      `${num(m.perConnectionRss)} / ${num(m.perConnectionHeap)}`,
      `${num(m.sharedRss)} / ${num(m.sharedHeap)}`,
      `${num(m.ownRss)} / ${num(m.ownHeap)}`,
    ]),
  )
  const wait = markdownTable(
    ['mode', 'p50 ms', 'p99 ms', 'publishes/s, one at a time', `publishes/s, ${s.waitInFlight} in flight`],
    r.wait.map((w) => [
      w.label,
      num(w.p50Ms, 2),
      num(w.p99Ms, 2),
      num(w.sequentialPerSec),
      num(w.concurrentPerSec),
    ]),
  )
  return [
    '## 6. Scale-out over Redis and Redis Cluster',
    '',
    ran(r),
    '',
    r.method,
    '',
    `Sizes: ${num(s.connections)} WebSocket subscribers; bursts of ${s.burst} x ${s.rounds} rounds per configuration; ` +
      `${s.processes.join(', ')} server processes.`,
    '',
    fanout,
    '',
    'Every process shares the same two cores with the subscribers and Redis, so more processes cannot add ' +
      'throughput here; what carries over to bigger machines is the CPU per delivery and what each publish costs ' +
      'Redis. docs/capacity.md turns these into a sizing guide.',
    '',
    `Memory per subscription (${num(s.memoryConnections)} connections, +${s.extraSubscriptions} subscriptions each):`,
    '',
    memory,
    '',
    ...(r.redisMemory
      ? [
          `Redis memory per stored message of ~${r.redisMemory.payloadBytes} B: ${num(r.redisMemory.bytesPerStoredMessage)} B; ` +
            `per idempotency key: ${num(r.redisMemory.bytesPerIdempotencyKey)} B.`,
          '',
        ]
      : []),
    `waitForReplicas on the local cluster (${num(s.waitPublishes)} publishes per mode and round):`,
    '',
    wait,
  ].join('\n')
}

function machineSection(results) {
  const m = results[0].machine
  return [
    '## Machine',
    '',
    markdownTable(
      ['node', 'CPU (/proc/cpuinfo)', 'cores', 'memory', 'virtualization', 'OS'],
      [[m.node, m.cpu, String(m.cores), `${m.memoryGiB} GiB`, m.virtualization, m.os]],
    ),
    '',
    'Every figure below was measured on this machine, and every ratio compares rows of the same run. ' +
      (m.virtualization === 'Firecracker microVM'
        ? 'In this microVM, system calls and loopback TCP are slow, so absolute per-delivery CPU is high for every ' +
          'server alike; compare within a table, not with figures from elsewhere.'
        : ''),
  ].join('\n')
}

export async function renderReport() {
  const sections = [
    ['bundle-size', bundleSection],
    ['fanout', fanoutSection],
    ['idle-memory', memorySection],
    ['client-receive', receiveSection],
    ['reconnect-storm', stormSection],
    ['scale-out', scaleOutSection],
  ]
  const results = []
  const parts = []
  for (const [name, render] of sections) {
    const result = await readResult(name)
    if (!result) {
      parts.push(`## ${name}\n\nNot run yet: \`node bench/${name}.mjs\`.`)
      continue
    }
    results.push(result)
    parts.push(await render(result))
    if (name === 'reconnect-storm') {
      const bigger = await readResult('reconnect-storm-n2000')
      if (bigger) parts.push(stormAtSizeSection(bigger))
    }
  }
  if (results.length === 0) return
  const doc = [
    '# Holdfast benchmarks',
    '',
    '<!-- Generated by bench/report.mjs from bench/results/*.json; edits are overwritten. -->',
    '',
    '- Everything: `npm run bench` (runs `node bench/run-all.mjs`); CI smoke: `node bench/run-all.mjs --smoke` ' +
      '(tiny counts, under a minute, writes `bench/results/smoke/`, asserts no timings).',
    '- One benchmark: `node bench/bundle-size.mjs`, `fanout.mjs`, `idle-memory.mjs`, `client-receive.mjs`, ' +
      '`reconnect-storm.mjs`, `scale-out.mjs` (each takes `--smoke`).',
    '- Size budget: `npx size-limit` (root `.size-limit.cjs`); bundle contents: `node bench/size-report.mjs`.',
    '- Before/after in one run: `HOLDFAST_BASELINE_SERVER=<another build>/packages/server/dist/index.js node bench/fanout.mjs` ' +
      '(or `idle-memory.mjs`) measures the Holdfast rows again from that build, side by side, and prints after / before.',
    '- Loopback only; every benchmark is bounded in count and time and kills its child processes.',
    '',
    machineSection(results),
    '',
    ...parts.flatMap((p) => [p, '']),
  ].join('\n')
  await writeFile(RESULTS_MD, doc)
  console.log(`wrote ${RESULTS_MD}`)
}

if (isMain(import.meta.url)) await renderReport()
