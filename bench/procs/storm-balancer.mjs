// A TCP load balancer for the rolling restart: new connections go round-robin to the upstreams whose
// `GET /health` answered 200 on the last check (every `check-ms`), as a load balancer does with a draining
// server (503). With no healthy upstream a connection is reset, like a refused connect.
// node procs/storm-balancer.mjs --upstreams <port,port> [--check-ms 100]
import { get } from 'node:http'
import { connect, createServer } from 'node:net'
import { argvOptions, serve } from '../lib/child.mjs'

const { upstreams, 'check-ms': checkMs = '100' } = argvOptions()
const pool = upstreams.split(',').map((port) => ({ port: Number(port), healthy: false }))

function check(upstream) {
  const request = get({ host: '127.0.0.1', port: upstream.port, path: '/health', timeout: 500 }, (res) => {
    upstream.healthy = res.statusCode === 200
    res.resume()
  })
  request.on('timeout', () => request.destroy())
  request.on('error', () => {
    upstream.healthy = false
  })
}
const checker = setInterval(() => {
  for (const upstream of pool) check(upstream)
}, Number(checkMs))

let next = 0
const server = createServer((socket) => {
  const healthy = pool.filter((u) => u.healthy)
  if (healthy.length === 0) return socket.resetAndDestroy()
  const upstream = connect(healthy[next++ % healthy.length].port, '127.0.0.1')
  socket.setNoDelay(true)
  upstream.setNoDelay(true)
  socket.pipe(upstream).pipe(socket)
  socket.on('error', () => upstream.destroy())
  upstream.on('error', () => socket.destroy())
  socket.on('close', () => upstream.destroy())
  upstream.on('close', () => socket.destroy())
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))

serve(
  {
    healthy: () => pool.filter((u) => u.healthy).map((u) => u.port),
    close() {
      clearInterval(checker)
      server.close()
    },
  },
  { port: server.address().port },
)
