// The Holdfast server for the reconnect storm: listens on a given port (so a restart comes back on the
// same one), records the arrival time of every WebSocket upgrade, and publishes a tick every `tickMs`.
// With --redis <url> it keeps history in Redis (issue 5's broker), so a restart loses nothing.
// node procs/storm-server.mjs --port <port> [--tickMs 100] [--redis redis://127.0.0.1:6379]
import { createServer as createHttpServer } from 'node:http'
import { createServer, redisBroker } from '@holdfast/server'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { port = '0', tickMs = '100', redis } = argvOptions()
const arrivals = []
const http = createHttpServer()
http.on('upgrade', () => arrivals.push(nowMs()))
let broker
if (redis) {
  broker = redisBroker({ url: redis })
  await broker.ready()
}
const server = createServer(broker ? { broker } : {})
server.attach(http)
await new Promise((resolve, reject) => {
  http.once('error', reject)
  http.listen(Number(port), '127.0.0.1', resolve)
})
const listeningAt = nowMs()
const ticker = setInterval(() => {
  server.publish('storm', { t: nowMs() }).catch(() => {})
}, Number(tickMs))

serve(
  {
    arrivals: () => arrivals,
    connections: () => server.connectionCount,
    async close() {
      clearInterval(ticker)
      await server.close({ timeoutMs: 1000 })
      await broker?.close()
    },
  },
  { port: http.address().port, listeningAt },
)
