// A broadcast server in its own process, measured from the inside: process.cpuUsage() around a publish
// run, memory after GC. Kinds: holdfast (/ws and /sse), ws (plain broadcast loop), socketio (4.8,
// WebSocket transport), http-sse (plain node:http SSE loop), holdfast-baseline (the same as holdfast, from
// the build that HOLDFAST_BASELINE_SERVER points at: before/after figures in one run).
// Started by lib/processes.mjs: node --expose-gc procs/broadcast-server.mjs --kind <kind>
import { createServer as createHttpServer } from 'node:http'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { argvOptions, collectGarbage, nowMs, serve } from '../lib/child.mjs'

const {
  kind = 'holdfast',
  redis,
  'redis-cluster': redisCluster,
  'redis-prefix': redisPrefix,
  'presence-max-members': presenceMaxMembers,
} = argvOptions()

// The Holdfast server of the build at `module`. With --redis <url> or --redis-cluster <host:port,…> (and
// --redis-prefix) it uses that build's Redis broker; `follow` then listens through the broker alone.
async function holdfast(module) {
  const { createServer, redisBroker } = await import(module)
  const broker =
    redis || redisCluster
      ? redisBroker({
          ...(redisCluster ? { cluster: redisCluster.split(',') } : { url: redis }),
          ...(redisPrefix ? { keyPrefix: redisPrefix } : {}),
        })
      : undefined
  await broker?.ready(10_000)
  // --presence-max-members raises the members one channel may hold (the presence rows of fanout.mjs).
  const server = createServer({
    ...(broker ? { broker } : {}),
    ...(presenceMaxMembers ? { presence: { maxMembers: Number(presenceMaxMembers) } } : {}),
  })
  await server.listen(0, { host: '127.0.0.1' })
  return {
    port: server.port,
    connections: () => server.connectionCount,
    broadcast: (channel, data) => server.publish(channel, data),
    close: async () => {
      await server.close({ timeoutMs: 1000 })
      await broker?.close()
    },
    // Listens on a channel through the broker itself, with no client: Redis then sends this process every
    // notification of that channel, and nothing is delivered onwards.
    follow: async (channel, onMessage) => {
      if (!broker) throw new Error('follow needs the Redis broker')
      await broker.subscribe(channel, onMessage)
    },
  }
}

/** Each kind: `listen()` resolves with a port; `broadcast(channel, data)` sends one message to all. */
const KINDS = {
  holdfast: () => holdfast('@holdfast/server'),

  'holdfast-baseline'() {
    const path = process.env.HOLDFAST_BASELINE_SERVER
    if (!path)
      throw new Error('set HOLDFAST_BASELINE_SERVER to the dist/index.js of the build to compare with')
    return holdfast(pathToFileURL(path).href)
  },

  async ws() {
    const { WebSocketServer } = await import('ws')
    const http = createHttpServer()
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
    await listen(http)
    return {
      port: http.address().port,
      connections: () => wss.clients.size,
      broadcast(channel, data) {
        // The loop from the ws README: encode once, send the same string to every client.
        const text = JSON.stringify({ channel, data })
        for (const client of wss.clients) if (client.readyState === 1) client.send(text)
      },
      close() {
        for (const client of wss.clients) client.terminate()
        return new Promise((resolve) => wss.close(() => http.close(() => resolve())))
      },
    }
  },

  async socketio() {
    const { Server } = await import('socket.io')
    const http = createHttpServer()
    const io = new Server(http, { transports: ['websocket'], serveClient: false })
    await listen(http)
    return {
      port: http.address().port,
      connections: () => io.engine.clientsCount,
      broadcast: (_channel, data) => io.emit('message', data),
      close: () => new Promise((resolve) => io.close(() => resolve())),
    }
  },

  async 'http-sse'() {
    const clients = new Set()
    const http = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write(': ok\n\n')
      clients.add(res)
      req.on('close', () => clients.delete(res))
    })
    await listen(http)
    return {
      port: http.address().port,
      connections: () => clients.size,
      broadcast(channel, data) {
        const event = `data: ${JSON.stringify({ channel, data })}\n\n`
        for (const res of clients) res.write(event)
      },
      close() {
        for (const res of clients) res.destroy()
        http.closeAllConnections()
        return new Promise((resolve) => http.close(() => resolve()))
      },
    }
  },
}

function listen(http) {
  return new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(0, '127.0.0.1', () => resolve())
  })
}

const make = KINDS[kind]
if (!make) throw new Error(`unknown kind "${kind}"; use one of ${Object.keys(KINDS).join(', ')}`)
const server = await make()
let cpuMark = process.cpuUsage()
let followed = 0

serve(
  {
    connections: () => server.connections(),

    /**
     * Publishes `count` messages of about `payloadBytes`, one per event-loop turn (`intervalMs` 0) or
     * one every `intervalMs`. Every message carries its send time in `t` (ms, sub-ms precision).
     */
    async publish({ channel, count, intervalMs = 0, payloadBytes = 100, inFlight = 1 }) {
      const pad = 'x'.repeat(Math.max(0, payloadBytes - 40))
      cpuMark = process.cpuUsage()
      const startAt = nowMs()
      // With `inFlight` > 1 (a Redis broker, where each publish waits for a round trip), that many
      // publishes are under way at once, so the publisher does not bound the fan-out being measured.
      const pending = new Set()
      for (let s = 0; s < count; s++) {
        const data = { t: nowMs(), s, p: pad }
        const publishing = Promise.resolve(server.broadcast(channel, data))
        pending.add(publishing)
        publishing.finally(() => pending.delete(publishing))
        if (pending.size >= inFlight) await Promise.race(pending)
        if (intervalMs > 0) await sleepUntil(startAt + (s + 1) * intervalMs)
        else await nextTurn()
      }
      await Promise.all(pending)
      return { startAt, endAt: nowMs() }
    },

    /** Follows `channel` through the broker without a client (Redis broker only); `followed` counts arrivals. */
    async follow({ channel }) {
      await server.follow(channel, () => followed++)
    },
    followed: () => followed,

    /** Starts the CPU count over (the processes that only deliver never call `publish`). */
    markCpu() {
      cpuMark = process.cpuUsage()
    },

    /** CPU time (µs) this process used since the last `publish` started (or `markCpu`). */
    cpu() {
      const { user, system } = process.cpuUsage(cpuMark)
      return { userUs: user, systemUs: system, totalUs: user + system }
    },

    /** Memory after a full GC. */
    async memory() {
      await collectGarbage()
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
      return { rss, heapUsed, heapTotal, external, arrayBuffers, connections: server.connections() }
    },

    close: () => server.close(),
  },
  { port: server.port, kind },
)

function sleepUntil(at) {
  const ms = at - nowMs()
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : nextTurn()
}
