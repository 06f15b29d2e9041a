// Many subscribers in one process, as cheap as a client can be (raw `ws` sockets and raw HTTP streams, no
// SDK), so the process measures the servers rather than itself. Records publish-to-deliver latency from
// the `t` each message carries.
// Kinds: holdfast-ws, holdfast-sse, ws, socketio, http-sse.
import { Agent, get } from 'node:http'
import WebSocket from 'ws'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'
import { runLimited } from '../lib/concurrency.mjs'
import { Histogram } from '../lib/stats.mjs'

// --ports p1,p2,… spreads the connections over several servers in turn; --channels K subscribes each
// connection to K channels (`bench`, then `bench.1` … `bench.<K-1>`; with --unique, channels of its own).
const { kind, port, ports, channel = 'bench', channels = '1', unique } = argvOptions()
const PORTS = (ports ?? port).split(',').map(Number)
let opened = 0
/** The next connection's server, round robin. */
function nextBase() {
  return `127.0.0.1:${PORTS[opened++ % PORTS.length]}`
}
/** The channels one connection subscribes to. */
function channelsFor(index) {
  const k = Number(channels)
  return Array.from({ length: k }, (_, i) =>
    i === 0 ? channel : unique ? `${channel}.c${index}.${i}` : `${channel}.${i}`,
  )
}
const OPEN_TIMEOUT_MS = 30_000

const sockets = new Set()
let phase = { armedAt: Number.POSITIVE_INFINITY, expected: 0, received: 0, firstAt: 0, lastAt: 0 }
let histogram = new Histogram()
let onProgress = () => {}

/** The send time a message carries, or NaN for frames that are not benchmark messages. */
function stampOf(text) {
  const i = text.indexOf('"t":')
  if (i < 0) return Number.NaN
  let j = i + 4
  while (j < text.length) {
    const c = text.charCodeAt(j)
    if ((c >= 48 && c <= 57) || c === 46) j++
    else break
  }
  return Number(text.slice(i + 4, j))
}

function onMessageText(text) {
  const t = stampOf(text)
  // Presence phases count join and leave events (a watch of `<channel>~presence`), which carry no send time.
  if (phase.presence) {
    if (!text.includes('"event":"join"') && !text.includes('"event":"leave"')) return
  } else if (!(t >= phase.armedAt)) return
  const at = nowMs()
  if (phase.received === 0) phase.firstAt = at
  phase.lastAt = at
  phase.received++
  if (!phase.presence) histogram.record(at - t)
  if (phase.received >= phase.expected) onProgress()
}

/** Opens one subscriber; resolves once it is subscribed and ready to receive. */
const OPENERS = {
  'holdfast-ws': (index) => {
    const wanted = channelsFor(index)
    return openWebSocket(`ws://${nextBase()}/ws`, 'holdfast.v1', (ws, ready) => {
      let subscribed = 0
      ws.once('open', () => ws.send('{"type":"connect"}'))
      ws.on('message', (data) => {
        const text = data.toString()
        if (text.startsWith('{"type":"message"')) return onMessageText(text)
        if (text.startsWith('{"type":"welcome"')) {
          for (const [i, name] of wanted.entries())
            ws.send(JSON.stringify({ type: 'subscribe', id: i + 1, channel: name }))
        } else if (text.startsWith('{"type":"subscribed"') && ++subscribed === wanted.length) ready()
      })
    })
  },

  ws: () =>
    openWebSocket(`ws://${nextBase()}/`, undefined, (ws, ready) => {
      ws.once('open', ready)
      ws.on('message', (data) => onMessageText(data.toString()))
    }),

  // The engine.io v4 / socket.io v5 wire protocol, spoken directly: 0 open, 40 connect, 2 ping -> 3 pong, 42 event.
  socketio: () =>
    openWebSocket(`ws://${nextBase()}/socket.io/?EIO=4&transport=websocket`, undefined, (ws, ready) => {
      ws.on('message', (data) => {
        const text = data.toString()
        if (text.startsWith('42')) return onMessageText(text)
        if (text === '2') ws.send('3')
        else if (text.startsWith('0')) ws.send('40')
        else if (text.startsWith('40')) ready()
      })
    }),

  'holdfast-sse': (index) => {
    const wanted = channelsFor(index)
    const query = wanted.map((name) => `channel=${encodeURIComponent(name)}`).join('&')
    return openEventStream(`/sse?${query}`, 'event: subscribed', wanted.length)
  },
  'http-sse': () => openEventStream('/sse', ': ok'),
}

function openWebSocket(url, protocol, wire) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol, { perMessageDeflate: false })
    const timer = setTimeout(
      () => reject(new Error(`no subscription within ${OPEN_TIMEOUT_MS} ms`)),
      OPEN_TIMEOUT_MS,
    )
    // After subscribing these are no-ops (the promise is settled); a dropped subscriber shows up as lost messages.
    ws.on('error', reject)
    ws.once('close', (code) => reject(new Error(`closed with ${code} before subscribing`)))
    sockets.add({ close: () => ws.terminate() })
    wire(ws, () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY })

function openEventStream(path, readyMarker, markers = 1) {
  const [host, target] = nextBase().split(':')
  return new Promise((resolve, reject) => {
    const req = get(
      { host, port: Number(target), path, agent, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode} from ${path}`))
        res.on('error', () => {})
        res.setEncoding('utf8')
        let buffer = ''
        let ready = false
        let seen = 0
        res.on('data', (chunk) => {
          buffer += chunk
          let end = buffer.indexOf('\n\n')
          while (end >= 0) {
            const event = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            if (!ready && event.includes(readyMarker)) {
              if (++seen === markers) {
                ready = true
                clearTimeout(timer)
                resolve()
              }
            } else onMessageText(event)
            end = buffer.indexOf('\n\n')
          }
        })
      },
    )
    const timer = setTimeout(
      () => reject(new Error(`no subscription within ${OPEN_TIMEOUT_MS} ms`)),
      OPEN_TIMEOUT_MS,
    )
    req.on('error', reject)
    sockets.add({ close: () => req.destroy() })
  })
}

const open = OPENERS[kind]
if (!open) throw new Error(`unknown kind "${kind}"; use one of ${Object.keys(OPENERS).join(', ')}`)

serve({
  /** Opens `count` subscribers, `parallel` at a time. */
  async open({ count, parallel = 50 }) {
    const startedAt = nowMs()
    await runLimited(count, parallel, (i) => open(i))
    return { opened: count, ms: nowMs() - startedAt }
  },

  /**
   * Starts counting: messages sent from now on, `perConnection` expected on each subscriber (with
   * `presence`, join and leave events instead).
   */
  arm({ perConnection, connections, presence = false }) {
    phase = {
      armedAt: nowMs(),
      expected: perConnection * connections,
      received: 0,
      firstAt: 0,
      lastAt: 0,
      presence,
    }
    histogram = new Histogram()
    return phase.armedAt
  },

  /** Resolves when every expected message arrived, or after `timeoutMs` with what did. */
  wait({ timeoutMs }) {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer)
        onProgress = () => {}
        const { expected, received, firstAt, lastAt } = phase
        resolve({ expected, received, firstAt, lastAt, histogram: histogram.counts })
      }
      const timer = setTimeout(finish, timeoutMs)
      onProgress = finish
      if (phase.received >= phase.expected) finish()
    })
  },

  close() {
    for (const socket of sockets) socket.close()
    sockets.clear()
    agent.destroy()
  },
})
