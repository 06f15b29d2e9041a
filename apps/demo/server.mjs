#!/usr/bin/env node
// The demo's server: the Holdfast reference server (in-memory broker) plus the demo's own routes, which let
// a person break things on purpose and watch the client hold on. Run it with `npm run demo` from the
// repository root.
import { createHmac, randomBytes } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { dirname, extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createServer } from '@holdfast/server'

const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'history-size': { type: 'string', default: '2000' },
    'token-ttl': { type: 'string', default: '300' },
    'presence-grace-ms': { type: 'string', default: '15000' },
  },
})
const historySize = Number(values['history-size'])
if (!Number.isSafeInteger(historySize) || historySize < 1) {
  console.error(`[demo] --history-size must be a positive integer, got ${values['history-size']}`)
  process.exit(1)
}
const historyTtlMs = 10 * 60_000
// Tokens live five minutes by default; the client refreshes them in band before they expire (30 s before,
// or halfway through a shorter life: `--token-ttl 20` shows a refresh every 10 s).
const tokenTtlSec = Number(values['token-ttl'])
if (!Number.isSafeInteger(tokenTtlSec) || tokenTtlSec < 2) {
  console.error(`[demo] --token-ttl must be an integer of at least 2 (seconds), got ${values['token-ttl']}`)
  process.exit(1)
}

// Presence (who is online in the chat): a page that closes leaves at once; one that vanishes without a word
// (a crash, a lost network) leaves after this grace and the server's sweep (1 s), and a reconnect within it
// shows nothing. 15 s is the server's default; `--presence-grace-ms 3000` makes a vanished tab leave sooner.
const presenceGraceMs = Number(values['presence-grace-ms'])
if (!Number.isSafeInteger(presenceGraceMs) || presenceGraceMs < 0) {
  console.error(
    `[demo] --presence-grace-ms must be an integer of at least 0, got ${values['presence-grace-ms']}`,
  )
  process.exit(1)
}

const secret = process.env.HOLDFAST_DEMO_SECRET ?? randomBytes(32).toString('hex')
const staticDir = join(here, 'dist')
if (!existsSync(join(staticDir, 'index.html'))) {
  console.error('[demo] apps/demo/dist is missing: run `npm run build` first (npm run demo does it for you)')
  process.exit(1)
}
const iife = join(here, '..', '..', 'packages', 'client', 'dist', 'holdfast.global.js')

/** Channels of the demo itself (the chat, chart and notifications are ordinary app channels). */
const STATE_CHANNEL = 'demo.state'
const SEQ_CHANNEL = 'demo.seq'
const CHAT_CHANNEL = 'chat.lobby'

// Each token carries the page it was issued to and a serial number, so "Expire token" can expire exactly the
// tokens one page holds.
let tokenSerial = 0
const b64url = (value) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
function signToken(claims) {
  const payload = { sub: 'demo-user', ...claims, exp: Math.floor(Date.now() / 1000) + tokenTtlSec }
  const body = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(payload)}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}
/** The claims of a bearer token, unverified: Holdfast verifies; the demo only reads which page it is. */
function bearerClaims(req) {
  const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
  try {
    return JSON.parse(Buffer.from(token?.split('.')[1] ?? '', 'base64url').toString())
  } catch {
    return undefined
  }
}

// Each page of the demo app gives its clients the base URL `/p/<page id>`, so every connection names its
// page: "Expire token" and "Cause a gap" act on the page that asked, and no other.
const PAGE_PATH = /^\/p\/([A-Za-z0-9_-]{1,40})(\/.*)$/
/** @type {Map<string, { connections: Set<{ cut(): void, expire(): void }>, revokedThrough: number, hold?: Promise<void> }>} */
const pages = new Map()
function pageState(id) {
  let page = pages.get(id)
  if (!page) {
    page = { connections: new Set(), revokedThrough: 0, hold: undefined }
    pages.set(id, page)
    // Bounded: the oldest page is forgotten (a page that comes back starts afresh, which is harmless).
    if (pages.size > 1000) pages.delete(pages.keys().next().value)
  }
  return page
}

const sockets = new Set()
let websocketBlocked = false
let floodRunning = false
const timers = []

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}
const pageParam = (url) => {
  const id = url.searchParams.get('page') ?? ''
  return /^[A-Za-z0-9_-]{1,40}$/.test(id) ? id : undefined
}

/** The demo's own routes and the built app. Holdfast's endpoints never reach this handler. */
async function demoRoutes(req, res) {
  const url = new URL(req.url ?? '/', 'http://demo.invalid')
  const route = `${req.method} ${url.pathname}`
  if (route === 'GET /demo/token') {
    const page = pageParam(url)
    // The page's user name is the token's `sub`: presence's client id, so one user's tabs show as one user.
    const user = url.searchParams.get('user') ?? ''
    const sub = /^[A-Za-z0-9_.-]{1,40}$/.test(user) ? { sub: user } : {}
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
    res.end(signToken({ n: ++tokenSerial, ...sub, ...(page ? { page } : {}) }))
    return
  }
  if (route === 'GET /demo/state') {
    // What a page needs before it subscribes: the server's switches, where the state channel stands (so no
    // change is missed between this answer and the subscription), and the start of the chat's log.
    const [state, chat] = await Promise.all([
      holdfast.broker.read(STATE_CHANNEL),
      holdfast.broker.read(CHAT_CHANNEL),
    ])
    json(res, 200, {
      websocketBlocked,
      stateCursor: state.head,
      // `<epoch>:0` is "before the first message" (docs/PROTOCOL.md §1): resuming from it replays everything
      // the server still has, and says `recovered: false` when older messages are gone.
      chatStart: `${chat.epoch}:0`,
      history: { size: historySize, ttlMs: historyTtlMs },
    })
    return
  }
  if (route === 'POST /demo/drop') {
    // Cut every TCP connection (after answering this one): what a network blip looks like.
    json(res, 200, { dropped: sockets.size - 1 })
    setTimeout(() => {
      for (const socket of sockets) socket.destroy()
    }, 20)
    return
  }
  if (route === 'POST /demo/websocket') {
    websocketBlocked = url.searchParams.get('blocked') === 'true'
    // Every page learns the new state from the state channel, whichever transport it is on.
    await holdfast.publish(STATE_CHANNEL, { websocketBlocked })
    json(res, 200, { websocketBlocked })
    if (websocketBlocked) for (const socket of sockets) if (socket.holdfastUpgraded) socket.destroy()
    return
  }
  if (route === 'POST /demo/expire-token') {
    const id = pageParam(url)
    if (!id) return json(res, 400, { error: { code: 'bad_request', message: 'expire-token needs ?page=' } })
    // Every token this page holds now is expired: its WebSocket is closed with 4100 (token expired, the
    // client fetches a new token and reconnects at once) and its HTTP requests are answered 401 until it
    // comes back with a new one.
    const page = pageState(id)
    page.revokedThrough = tokenSerial
    for (const connection of page.connections) connection.expire()
    json(res, 200, { expired: page.connections.size })
    return
  }
  if (route === 'POST /demo/gap') {
    const id = pageParam(url)
    if (!id) return json(res, 400, { error: { code: 'bad_request', message: 'gap needs ?page=' } })
    // While the page is away, publish more on the sequence channel than the server keeps: when it comes
    // back, the history after its cursor is gone, and the server says so (`recovered: false`).
    const page = pageState(id)
    let release
    page.hold = new Promise((resolve) => {
      release = resolve
    })
    for (const connection of page.connections) connection.cut()
    const published = historySize + 1
    try {
      for (let i = 0; i < published; i++) await publishSeq()
    } finally {
      page.hold = undefined
      release()
    }
    json(res, 200, { channel: SEQ_CHANNEL, published, historySize })
    return
  }
  if (route === 'POST /demo/flood') {
    if (floodRunning) return json(res, 409, { error: { code: 'bad_request', message: 'a flood is running' } })
    const rate = Math.min(20_000, Math.max(1, Number(url.searchParams.get('rate')) || 5000))
    const seconds = Math.min(60, Math.max(1, Number(url.searchParams.get('seconds')) || 5))
    startFlood(rate, seconds)
    json(res, 200, { rate, seconds, total: rate * seconds })
    return
  }
  if (url.pathname === '/holdfast.global.js' || url.pathname === '/holdfast.global.js.map') {
    return sendFile(res, url.pathname === '/holdfast.global.js' ? iife : `${iife}.map`)
  }
  if (url.pathname === '/favicon.ico') return sendFile(res, join(staticDir, 'favicon.svg'))
  // The built app. (Holdfast's own `staticDir` would answer every GET, these demo routes included.)
  const path = normalize(join(staticDir, url.pathname === '/' ? 'index.html' : url.pathname))
  if (path.startsWith(staticDir) && existsSync(path) && statSync(path).isFile()) return sendFile(res, path)
  json(res, 404, { error: { code: 'bad_request', message: `no route ${route}` } })
}

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
}
function sendFile(res, file) {
  if (!existsSync(file)) return json(res, 404, { error: { code: 'bad_request', message: 'not built yet' } })
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
  createReadStream(file).pipe(res)
}

const http = createHttpServer((req, res) => {
  demoRoutes(req, res).catch((error) => {
    console.error('[demo] route failed', error)
    if (!res.headersSent) json(res, 500, { error: { code: 'internal', message: 'demo route failed' } })
  })
})
http.on('connection', (socket) => {
  sockets.add(socket)
  socket.on('close', () => sockets.delete(socket))
})

/**
 * Closes a WebSocket the way a Holdfast server does when a token has expired: a close frame with 4100.
 * Written as raw bytes (RFC 6455 §5.5.1: unmasked from a server, a 2-byte code then the reason), because
 * the socket belongs to Holdfast's WebSocket server and has no public handle here.
 */
function closeWebSocket(socket, code, reason) {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)])
  socket.end(Buffer.concat([Buffer.from([0x88, payload.length]), payload]))
}

/** A Holdfast request or upgrade of one page: tracked while open, refused when its token was expired. */
function pageTraffic(id, event, req, second) {
  const page = pageState(id)
  if (event === 'upgrade') {
    const socket = second
    const connection = {
      cut: () => socket.destroy(),
      expire: () => closeWebSocket(socket, 4100, 'token expired by the demo'),
    }
    page.connections.add(connection)
    socket.on('close', () => page.connections.delete(connection))
    return
  }
  const res = second
  const claims = bearerClaims(req)
  if (claims?.page === id && claims.n <= page.revokedThrough) {
    json(res, 401, { error: { code: 'token_expired', message: 'the token expired (the demo expired it)' } })
    return 'answered'
  }
  if (req.url.startsWith('/sse') || req.url.startsWith('/poll')) {
    const connection = { cut: () => req.socket.destroy(), expire: () => req.socket.destroy() }
    page.connections.add(connection)
    res.on('close', () => page.connections.delete(connection))
  }
}

// Requests and upgrades pass through here before Holdfast (attached below) sees them: page paths are
// mapped to Holdfast's endpoints, and "Block WebSocket" behaves like a corporate proxy, refusing the
// upgrade before Holdfast sees it.
const emit = http.emit.bind(http)
http.emit = (event, ...args) => {
  if (event !== 'request' && event !== 'upgrade') return emit(event, ...args)
  const [req, second] = args
  if (event === 'upgrade') {
    if (websocketBlocked) {
      second.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      return true
    }
    second.holdfastUpgraded = true
  }
  const match = PAGE_PATH.exec(req.url ?? '')
  if (!match) return emit(event, ...args)
  const id = match[1]
  req.url = match[2]
  const pass = () => pageTraffic(id, event, req, second) === 'answered' || emit(event, ...args)
  const hold = pages.get(id)?.hold
  if (!hold) return pass()
  // The page is kept away for a moment ("Cause a gap"): its reconnect waits at the door.
  hold.then(pass)
  return true
}

const holdfast = createServer({
  auth: { secret },
  history: { size: historySize, ttlMs: historyTtlMs },
  presence: { graceMs: presenceGraceMs },
})
holdfast.attach(http)
// A page that outlives a restart resumes the state channel from the new beginning and finds this.
void holdfast.publish(STATE_CHANNEL, { websocketBlocked })

function every(ms, fn) {
  const id = setInterval(fn, ms)
  timers.push(() => clearInterval(id))
}

// The sequence the claims panel checks: one number after another, published in order (each publish waits
// for the one before, so the numbers and the cursors agree with any broker).
let seq = 0
let seqChain = Promise.resolve()
function publishSeq() {
  seqChain = seqChain.then(() => holdfast.publish(SEQ_CHANNEL, { seq: ++seq }).then(() => undefined))
  return seqChain
}
every(100, () => void publishSeq())

let notification = 0
every(4000, () => void holdfast.publish('notifications', { text: `Notification #${++notification}` }))
let cdn = 0
every(1000, () => void holdfast.publish('cdn.news', { text: `Headline ${++cdn}` }))
let metricSeq = 0
every(50, () => {
  const t = Date.now() / 1000
  void holdfast.publish('metrics', { series: 'cpu', value: 50 + 40 * Math.sin(t), seq: ++metricSeq })
  void holdfast.publish('metrics', { series: 'memory', value: 50 + 30 * Math.cos(t / 2), seq: ++metricSeq })
})

function startFlood(rate, seconds) {
  const keys = Array.from({ length: 20 }, (_, i) => `key-${i}`)
  const total = rate * seconds
  const started = Date.now()
  let n = 0
  floodRunning = true
  // Paced by the clock, not by tick count: a busy machine delays ticks, and each tick catches up.
  const id = setInterval(() => {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate))
    while (n < due) {
      n++
      void holdfast.publish('flood', {
        key: keys[n % keys.length],
        value: Math.random() * 100,
        seq: n,
        total,
      })
    }
    if (n >= total) {
      clearInterval(id)
      floodRunning = false
    }
  }, 10)
  timers.push(() => clearInterval(id))
}

http.listen(Number(values.port), values.host, () => {
  const { port } = http.address()
  console.log(`[demo] Holdfast demo on http://${values.host}:${port}  (in-memory broker)`)
  console.log(`[demo] open it in two tabs to chat; the control panel breaks connections on purpose`)
})

async function stop() {
  for (const off of timers) off()
  await holdfast.close({ drainMs: 1000 })
  http.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
