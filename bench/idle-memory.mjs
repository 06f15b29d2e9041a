// Memory per idle connection: open N subscribed connections, then read the server process's RSS and heap
// after a full GC, minus the same reading before any connection. Run: node bench/idle-memory.mjs [--smoke]
import { argvOptions } from './lib/child.mjs'
import { sleep } from './lib/concurrency.mjs'
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

export const CONFIGS = [
  {
    id: 'holdfast-ws',
    label: 'Holdfast /ws',
    server: 'holdfast',
    client: 'holdfast-ws',
    transport: 'WebSocket',
    ours: true,
  },
  { id: 'ws', label: 'plain ws', server: 'ws', client: 'ws', transport: 'WebSocket' },
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
  { id: 'http-sse', label: 'plain node:http SSE', server: 'http-sse', client: 'http-sse', transport: 'SSE' },
]

const FULL = { connections: 5000, subscriberProcesses: 2, settleMs: 2000 }
const SMOKE = { connections: 50, subscriberProcesses: 1, settleMs: 200 }

async function measure(config, sizes) {
  const group = new ChildGroup()
  try {
    const server = await group.spawn('procs/broadcast-server.mjs', {
      args: ['--kind', config.server],
      execArgv: ['--expose-gc'],
    })
    const before = await server.call('memory')
    const per = Math.ceil(sizes.connections / sizes.subscriberProcesses)
    const split = Array.from({ length: sizes.subscriberProcesses }, (_, i) =>
      Math.min(per, sizes.connections - i * per),
    )
    const subscribers = await Promise.all(
      split.map(() =>
        group.spawn('procs/subscribers.mjs', {
          args: ['--kind', config.client, '--port', String(server.info.port)],
        }),
      ),
    )
    const opened = await Promise.all(
      subscribers.map((s, i) => s.call('open', { count: split[i], parallel: 100 }, 180_000)),
    )
    await sleep(sizes.settleMs)
    const after = await server.call('memory')
    const n = after.connections
    const delta = (key) => (after[key] - before[key]) / n
    return {
      ...config,
      connections: n,
      openMs: Math.max(...opened.map((o) => o.ms)),
      rssPerConn: delta('rss'),
      heapPerConn: delta('heapUsed'),
      externalPerConn: delta('external'),
      before,
      after,
    }
  } catch (error) {
    return { ...config, error: String(error?.message ?? error).split('\n')[0] }
  } finally {
    group.close()
  }
}

export async function run({ smoke }) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  if (argvOptions().connections) sizes.connections = Number(argvOptions().connections)
  const cancel = deadline(smoke ? 60_000 : 10 * 60_000, 'idle-memory')
  const only = argvOptions().only?.split(',')
  const configs = withBaseline(CONFIGS).filter(
    (c) => !only || only.includes(c.id) || only.includes(c.baselineOf),
  )
  const rows = []
  for (const config of configs) {
    process.stdout.write(`idle-memory: ${config.label} ... `)
    const row = await measure(config, sizes)
    console.log(row.error ? `failed: ${row.error}` : `${num(row.rssPerConn)} B RSS / connection`)
    rows.push(row)
  }
  cancel()
  printTable(
    `Memory per idle connection at ${num(sizes.connections)} connections (server process, after GC; bytes)`,
    ['server', 'transport', 'RSS / conn', 'vs plain', 'JS heap / conn', 'external / conn'],
    rows.map((r) => {
      if (r.error) return [r.label, r.transport, `failed: ${r.error}`, '', '', '']
      const plain = rows.find(
        (p) => !p.error && p.transport === r.transport && (p.id === 'ws' || p.id === 'http-sse'),
      )
      const vs = plain ? `${(r.rssPerConn / plain.rssPerConn).toFixed(2)}x` : ''
      return [r.label, r.transport, num(r.rssPerConn), vs, num(r.heapPerConn), num(r.externalPerConn)]
    }),
  )
  const compared = beforeAfter(rows, [
    ['rssPerConn', 'RSS / conn (B)'],
    ['heapPerConn', 'JS heap / conn (B)'],
  ])
  if (compared.length > 0)
    printTable(
      'This build against HOLDFAST_BASELINE_SERVER, same run (after / before)',
      ['server', 'figure', 'before', 'after', 'after / before'],
      compared.map((c) => [c.label, c.metric, num(c.before), num(c.after), `${c.ratio.toFixed(3)}x`]),
    )
  const path = await writeResult('idle-memory', {
    smoke,
    command: commandLine('idle-memory.mjs'),
    data: {
      sizes,
      method:
        'Server in its own process (node --expose-gc). Memory read after gc() twice, before any connection and ' +
        `${sizes.settleMs} ms after the last of N subscribed connections opened (raw ws / HTTP clients in ` +
        `${sizes.subscriberProcesses} other process(es)); (after - before) / N.`,
      rows,
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
