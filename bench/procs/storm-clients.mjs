// Many clients in one process, each following the "storm" ticks `{ seq, t }`, for the reconnect storm:
// real @holdfast/client instances (`--kind holdfast`, WebSocket, default backoff), socket.io-client 4.8 or
// reconnecting-websocket 4.4 with their defaults (`--kind socketio|rws`). Each client records when it lost
// and regained its connection and every tick it received (seq, publish time, receive time), so the parent
// can tell resume times, losses and duplicates.
// `--jitter off` (Holdfast only) injects random() = 1: full-jitter backoff then always waits the whole
// ceiling, so every client retries in lockstep, which is what a client without jitter does.
// node procs/storm-clients.mjs --kind holdfast|socketio|rws --url <base url> --count <n> [--jitter on|off]
import WebSocket from 'ws'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { kind = 'holdfast', url, count = '500', jitter = 'on' } = argvOptions()
const clients = []

function record() {
  return {
    close: () => {},
    ready: false,
    connected: false,
    drops: [],
    connects: [],
    // seq, t (published), at (received), flat.
    receipts: [],
    gaps: 0,
  }
}

function onTick(r, tick) {
  r.ready = true
  r.receipts.push(tick.seq, tick.t, nowMs())
}

function onUp(r) {
  if (r.connected) return
  r.connected = true
  r.connects.push(nowMs())
}

function onDown(r) {
  if (!r.connected) return
  r.connected = false
  r.drops.push(nowMs())
}

// Only the library measured is loaded.
const { createClient } = kind === 'holdfast' ? await import('@holdfast/client') : {}
const { io } = kind === 'socketio' ? await import('socket.io-client') : {}
const ReconnectingWebSocket = kind === 'rws' ? (await import('reconnecting-websocket')).default : undefined

function holdfast() {
  const r = record()
  const client = createClient({
    url,
    WebSocket,
    transports: ['websocket'],
    ...(jitter === 'off' ? { random: () => 1 } : {}),
  })
  // A gap: history since the client's cursor could not be replayed.
  client.on('gap', () => r.gaps++)
  client.onStateChange((state) => (state.status === 'connected' ? onUp(r) : onDown(r)))
  client.subscribe('storm', (message) => onTick(r, message.data))
  r.close = () => client.close()
  return r
}

function socketio() {
  const r = record()
  const socket = io(url)
  socket.on('connect', () => onUp(r))
  socket.on('disconnect', () => onDown(r))
  socket.on('tick', (tick) => onTick(r, tick))
  r.close = () => socket.close()
  return r
}

function rws() {
  const r = record()
  const socket = new ReconnectingWebSocket(url.replace(/^http/, 'ws'), [], { WebSocket })
  socket.addEventListener('open', () => onUp(r))
  socket.addEventListener('close', () => onDown(r))
  socket.addEventListener('message', (event) => onTick(r, JSON.parse(event.data)))
  r.close = () => socket.close()
  return r
}

const make = { holdfast, socketio, rws }[kind]

serve({
  /** Creates the clients; resolves once each has received a tick (connected and subscribed). */
  open({ timeoutMs = 60_000 }) {
    for (let i = 0; i < Number(count); i++) clients.push(make())
    return new Promise((resolve, reject) => {
      const started = nowMs()
      const check = setInterval(() => {
        const ready = clients.filter((c) => c.ready).length
        if (ready === clients.length) {
          clearInterval(check)
          resolve({ ready, ms: nowMs() - started })
        } else if (nowMs() - started > timeoutMs) {
          clearInterval(check)
          reject(new Error(`${ready} of ${clients.length} clients subscribed within ${timeoutMs} ms`))
        }
      }, 50)
    })
  },

  /**
   * Of the clients that lost their connection at or after `dropsAfter`: how many, and how many have since
   * resumed (received a tick published at or after `publishedAfter` and after their drop).
   */
  progress({ dropsAfter, publishedAfter = 0 }) {
    let dropped = 0
    let resumed = 0
    for (const c of clients) {
      const drop = c.drops.find((d) => d >= dropsAfter)
      if (drop === undefined) continue
      dropped++
      const after = Math.max(drop, publishedAfter)
      for (let i = c.receipts.length - 3; i >= 0; i -= 3) {
        if (c.receipts[i + 2] < drop) break
        if (c.receipts[i + 1] >= after) {
          resumed++
          break
        }
      }
    }
    return { total: clients.length, dropped, resumed }
  },

  /** Everything each client recorded, times in ms since the epoch. */
  report: () => clients.map(({ drops, connects, receipts, gaps }) => ({ drops, connects, receipts, gaps })),

  close() {
    for (const c of clients) c.close()
  },
})
