// The Holdfast server for the reconnect storm: listens on a given port (so a restart comes back on the
// same one), records the arrival time of every WebSocket upgrade, and publishes a tick every `tickMs`.
// node procs/storm-server.mjs --port <port> [--tickMs 100]
import { createServer as createHttpServer } from 'node:http'
import { createServer } from '@holdfast/server'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { port = '0', tickMs = '100' } = argvOptions()
const arrivals = []
const http = createHttpServer()
http.on('upgrade', () => arrivals.push(nowMs()))
const server = createServer()
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
    },
  },
  { port: http.address().port, listeningAt },
)
