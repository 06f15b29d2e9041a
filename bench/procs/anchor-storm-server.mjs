// The anchors' servers for the reconnect storm: socket.io 4.8 (`--kind socketio`) or a bare `ws` server
// (`--kind ws`), each broadcasting a tick `{ seq, t }` every `tickMs` from its own memory (neither has history
// to resume from), and recording when each connection arrived.
// `--defer-listen`: bound (and ticking) only on the `listen` call, as procs/storm-server.mjs.
// node procs/anchor-storm-server.mjs --kind socketio|ws --port <port> [--seq-start 1] [--tick-ms 100] [--defer-listen]
import { createServer as createHttpServer } from 'node:http'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const {
  kind,
  port = '0',
  'seq-start': seqStart = '1',
  'tick-ms': tickMs = '100',
  'defer-listen': deferListen,
} = argvOptions()
const arrivals = []
const admitted = []
const published = []
const http = createHttpServer()
let broadcast
if (kind === 'socketio') {
  const { Server } = await import('socket.io')
  const io = new Server(http)
  io.on('connection', () => {
    arrivals.push(nowMs())
    admitted.push(Date.now())
  })
  broadcast = (tick) => io.emit('tick', tick)
} else {
  const { WebSocketServer } = await import('ws')
  const wss = new WebSocketServer({ server: http })
  wss.on('connection', () => {
    arrivals.push(nowMs())
    admitted.push(Date.now())
  })
  broadcast = (tick) => {
    const data = JSON.stringify(tick)
    for (const ws of wss.clients) if (ws.readyState === 1) ws.send(data)
  }
}
let seq = Number(seqStart) - 1
let ticker
let cpuAtStart
async function listen() {
  await new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(Number(port), '127.0.0.1', resolve)
  })
  cpuAtStart = process.cpuUsage()
  ticker = setInterval(() => {
    const tick = { seq: ++seq, t: nowMs() }
    broadcast(tick)
    published.push(tick.seq)
  }, Number(tickMs))
  return { port: http.address().port, listeningAt: nowMs() }
}
const listening = deferListen ? {} : await listen()

serve(
  {
    listen,
    records: () => {
      const cpu = process.cpuUsage(cpuAtStart)
      return { arrivals, admitted, refused: [], cpuUs: cpu.user + cpu.system, published }
    },
    /** Stops ticking; returns every tick broadcast. */
    stop() {
      clearInterval(ticker)
      return { published }
    },
  },
  listening,
)
