// Client receive cost: messages parsed and dispatched per second, and client CPU per message, for our
// WebSocket and SSE transports in Node against socket.io-client and the `eventsource` package, each on the
// same stream from a server that costs next to nothing (procs/stream-server.mjs). Every run is a fresh
// client process. Run: node bench/client-receive.mjs [--smoke]
import { argvOptions } from './lib/child.mjs'
import { versionOf } from './lib/packages.mjs'
import { ChildGroup, deadline } from './lib/processes.mjs'
import { commandLine, num, printTable, runIfMain, writeResult } from './lib/results.mjs'
import { median } from './lib/stats.mjs'

export const CLIENTS = [
  {
    id: 'holdfast-ws',
    label: '@holdfast/client, websocket',
    transport: 'WebSocket',
    ours: true,
    pkg: '@holdfast/client',
  },
  { id: 'socketio', label: 'socket.io-client (websocket)', transport: 'WebSocket', pkg: 'socket.io-client' },
  {
    id: 'holdfast-sse',
    label: '@holdfast/client, sse',
    transport: 'SSE',
    ours: true,
    pkg: '@holdfast/client',
  },
  { id: 'eventsource', label: 'eventsource + JSON.parse', transport: 'SSE', pkg: 'eventsource' },
]

const FULL = { messages: 100_000, runs: 5, payloadBytes: 100 }
const SMOKE = { messages: 2000, runs: 1, payloadBytes: 100 }

async function measure(client, server, group, sizes) {
  const runs = []
  for (let r = 0; r < sizes.runs; r++) {
    const peer = await group.spawn('procs/receive-client.mjs', {
      args: ['--client', client.id, '--port', String(server.info.port), '--count', String(sizes.messages)],
    })
    try {
      runs.push(await peer.call('run', { timeoutMs: 60_000 }, 70_000))
    } finally {
      peer.kill()
    }
  }
  return {
    ...client,
    version: versionOf(client.pkg),
    msgPerSec: median(runs.map((r) => r.msgPerSec)),
    cpuUsPerMsg: median(runs.map((r) => r.cpuUsPerMsg)),
    runs,
  }
}

export async function run({ smoke }) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  if (argvOptions().messages) sizes.messages = Number(argvOptions().messages)
  const cancel = deadline(smoke ? 60_000 : 10 * 60_000, 'client-receive')
  const group = new ChildGroup()
  const rows = []
  try {
    const server = await group.spawn('procs/stream-server.mjs', {
      args: ['--count', String(sizes.messages), '--payloadBytes', String(sizes.payloadBytes)],
    })
    for (const client of CLIENTS) {
      process.stdout.write(`client-receive: ${client.label} ... `)
      try {
        const row = await measure(client, server, group, sizes)
        console.log(`${num(row.msgPerSec)} msg/s, ${num(row.cpuUsPerMsg, 2)} µs CPU / msg`)
        rows.push(row)
      } catch (error) {
        const message = String(error?.message ?? error).split('\n')[0]
        console.log(`failed: ${message}`)
        rows.push({ ...client, error: message })
      }
    }
  } finally {
    group.close()
    cancel()
  }
  printTable(
    `Client receive: ${num(sizes.messages)} messages of ~${sizes.payloadBytes} B payload, median of ${sizes.runs} fresh processes`,
    ['client', 'transport', 'msg/s', 'client CPU µs / msg'],
    rows.map((r) =>
      r.error
        ? [r.label, r.transport, `failed: ${r.error}`, '']
        : [r.label, r.transport, num(r.msgPerSec), num(r.cpuUsPerMsg, 2)],
    ),
  )
  const path = await writeResult('client-receive', {
    smoke,
    command: commandLine('client-receive.mjs'),
    data: {
      sizes,
      method:
        'A stream server in its own process writes N prebuilt messages (same JSON body on every transport) as fast ' +
        'as the client reads. Each client runs in a fresh process; the handler reads message.data. msg/s and ' +
        'process.cpuUsage() are taken between the first and the last message.',
      rows,
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
