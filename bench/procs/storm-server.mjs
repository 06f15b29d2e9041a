// The Holdfast server for the reconnect storm: listens on a given port (so a restart comes back on the
// same one) and records, per connection attempt, when its WebSocket upgrade arrived and when it was admitted
// (its `welcome`) or refused (close 4003). History lives in Redis (--redis), so a restart loses nothing;
// the ticks come from a separate publisher (procs/storm-publisher.mjs) through the same Redis.
// SIGTERM drains as the CLI does (`close({ drainMs })`), then closes the port and says `stopped`; the
// process stays up so the parent can read its records.
// `--defer-listen`: everything is set up (Redis connected) but the port is bound only on the `listen` call,
// so a restart's downtime is the benchmark's choice, not process start-up time.
// node procs/storm-server.mjs --port <port> --redis <url> [--connection-rate R] [--drain-ms W] [--defer-listen]
import { createServer as createHttpServer } from 'node:http'
import { createServer, redisBroker } from '@holdfast/server'
import WebSocket from 'ws'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const {
  port = '0',
  redis,
  'connection-rate': connectionRate,
  'drain-ms': drainMs = '0',
  'defer-listen': deferListen,
} = argvOptions()
const arrivals = []
// Admissions and refusals on the server's own clock (Date.now(), what the admission decides on).
const admitted = []
const refused = []
// Instrumentation only: the welcome frame and the 4003 close are the admission's two outcomes.
const { send, close } = WebSocket.prototype
WebSocket.prototype.send = function (data, ...rest) {
  if (typeof data === 'string' && data.startsWith('{"type":"welcome"')) admitted.push(Date.now())
  return send.call(this, data, ...rest)
}
// Once per socket: ws calls close() again with the code the client echoes in its own close frame.
const counted = Symbol('refusal counted')
WebSocket.prototype.close = function (code, ...rest) {
  if (code === 4003 && !this[counted]) {
    this[counted] = true
    refused.push(Date.now())
  }
  return close.call(this, code, ...rest)
}

const http = createHttpServer()
http.on('upgrade', () => arrivals.push(nowMs()))
const broker = redis ? redisBroker({ url: redis }) : undefined
await broker?.ready()
const server = createServer({
  ...(broker ? { broker } : {}),
  ...(connectionRate ? { limits: { connectionRate: { perSecond: Number(connectionRate) } } } : {}),
})
server.attach(http)
let listeningAt
let cpuAtStart
async function listen() {
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(Number(port), '127.0.0.1', resolve)
  })
  listeningAt = nowMs()
  cpuAtStart = process.cpuUsage()
  return { port: http.address().port, listeningAt }
}
const listening = deferListen ? {} : await listen()

process.on('SIGTERM', async () => {
  const at = nowMs()
  await server.close({ drainMs: Number(drainMs), timeoutMs: Number(drainMs) + 5000 })
  await new Promise((resolve) => {
    http.close(resolve)
    http.closeAllConnections()
  })
  await broker?.close()
  process.send({ type: 'stopped', sigtermAt: at, stoppedAt: nowMs() })
})

serve(
  {
    listen,
    /** What this server saw, and its CPU time (µs) since it listened. */
    records: () => {
      const cpu = process.cpuUsage(cpuAtStart)
      return { arrivals, admitted, refused, cpuUs: cpu.user + cpu.system }
    },
    connections: () => server.connectionCount,
  },
  listening,
)
