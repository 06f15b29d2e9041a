#!/usr/bin/env node
// The demo's server: the Holdfast reference server (in-memory broker) plus the demo's own routes.
// Run it with `npm run demo` from the repository root.
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
  },
})

const secret = process.env.HOLDFAST_DEMO_SECRET ?? randomBytes(32).toString('hex')
const staticDir = join(here, 'dist')
if (!existsSync(join(staticDir, 'index.html'))) {
  console.error('[demo] apps/demo/dist is missing: run `npm run build` first (npm run demo does it for you)')
  process.exit(1)
}
const iife = join(here, '..', '..', 'packages', 'client', 'dist', 'holdfast.global.js')

const b64url = (value) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
function signToken(sub, ttlSec) {
  const body = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub, exp: Math.floor(Date.now() / 1000) + ttlSec })}`
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`
}

const sockets = new Set()
let websocketBlocked = false
const publishers = []

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

const http = createHttpServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://demo.invalid')
  if (url.pathname === '/demo/token') {
    const ttl = Math.min(3600, Math.max(1, Number(url.searchParams.get('ttl') ?? 60) || 60))
    res
      .writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
      .end(signToken('demo-user', ttl))
    return
  }
  if (url.pathname === '/demo/drop' && req.method === 'POST') {
    // Cut every TCP connection (after answering this one): what a network blip looks like.
    json(res, 200, { dropped: sockets.size - 1 })
    setTimeout(() => {
      for (const socket of sockets) socket.destroy()
    }, 20)
    return
  }
  if (url.pathname === '/demo/websocket' && req.method === 'POST') {
    websocketBlocked = url.searchParams.get('blocked') === 'true'
    json(res, 200, { websocketBlocked })
    if (websocketBlocked) {
      for (const socket of sockets) if (socket.holdfastUpgraded) socket.destroy()
    }
    return
  }
  if (url.pathname === '/demo/flood' && req.method === 'POST') {
    const rate = Math.min(20_000, Number(url.searchParams.get('rate') ?? 5000))
    const seconds = Math.min(60, Number(url.searchParams.get('seconds') ?? 10))
    startFlood(rate, seconds)
    json(res, 200, { rate, seconds })
    return
  }
  if (url.pathname === '/holdfast.global.js' || url.pathname === '/holdfast.global.js.map') {
    return sendFile(res, url.pathname === '/holdfast.global.js' ? iife : `${iife}.map`)
  }
  // The built app. (Holdfast's own `staticDir` would answer every GET, these demo routes included.)
  const path = normalize(join(staticDir, url.pathname === '/' ? 'index.html' : url.pathname))
  if (path.startsWith(staticDir) && existsSync(path) && statSync(path).isFile()) return sendFile(res, path)
  json(res, 404, { error: { code: 'bad_request', message: `no route ${url.pathname}` } })
})

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

http.on('connection', (socket) => {
  sockets.add(socket)
  socket.on('close', () => sockets.delete(socket))
})
// "Block WebSocket" behaves like a corporate proxy: the upgrade is refused before Holdfast sees it.
const emit = http.emit.bind(http)
http.emit = (event, ...args) => {
  if (event === 'upgrade') {
    const socket = args[1]
    if (websocketBlocked) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
      return true
    }
    socket.holdfastUpgraded = true
  }
  return emit(event, ...args)
}

const holdfast = createServer({ auth: { secret }, history: { size: 2000, ttlMs: 10 * 60_000 } })
holdfast.attach(http)

function every(ms, fn) {
  const id = setInterval(fn, ms)
  publishers.push(() => clearInterval(id))
}

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
  let seq = 0
  // Paced by the clock, not by tick count: a busy machine delays ticks, and each tick catches up.
  const id = setInterval(() => {
    const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate))
    while (seq < due) {
      seq++
      void holdfast.publish('flood', { key: keys[seq % keys.length], value: Math.random() * 100, seq })
    }
    if (seq >= total) clearInterval(id)
  }, 10)
}

http.listen(Number(values.port), values.host, () => {
  const { port } = http.address()
  console.log(`[demo] Holdfast demo on http://${values.host}:${port}  (in-memory broker)`)
  console.log(`[demo] open it in two tabs to chat; the control panel drops connections and blocks WebSocket`)
})

async function stop() {
  for (const off of publishers) off()
  await holdfast.close({ drainMs: 1000 })
  http.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
