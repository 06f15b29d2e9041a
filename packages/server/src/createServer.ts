import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { Endpoint, isChannelName, isIdempotencyKey, type PublishResponse } from '@holdfast/protocol'
import { parsePresenceChannel } from '@holdfast/protocol/presence'
import type { Registry } from 'prom-client'
import { createAuthenticator } from './auth/createAuthenticator'
import type { Broker, PublishOptions } from './broker/Broker'
import { type MemoryBroker, memoryBroker } from './broker/memoryBroker'
import { systemClock } from './Clock'
import { ConnectionRegistry } from './ConnectionRegistry'
import { encodePayload } from './encodePayload'
import { HoldfastServerError } from './HoldfastServerError'
import { createRequestHandler, endpointOf } from './http/createRequestHandler'
import { sendError } from './http/responses'
import { rejectUpgrade } from './http/upgradeResponse'
import { errorFields, silentLogger } from './Logger'
import { ConnectionAdmission } from './limits/ConnectionAdmission'
import { KeyedRateLimiter, Rate } from './limits/RateLimiter'
import { createServerMetrics, noMetrics } from './metrics/ServerMetrics'
import { PresenceService } from './presence/PresenceService'
import type { ResyncListener, ServerContext } from './ServerContext'
import { resolveOptions, type ServerOptions } from './ServerOptions'
import { createWebSocketHandler } from './transports/websocketHandler'

export interface ListenOptions {
  /**
   * Interface to bind. Defaults to every interface when `auth` is set, and to `127.0.0.1` when the server
   * runs open (development mode), so an open server is never reachable from the network by accident.
   */
  host?: string
}

export interface CloseOptions {
  /**
   * Window over which clients are told to come back: each connection gets a `reconnect` hint with a
   * delay drawn uniformly from it, so they do not all return at once. Defaults to 0.
   */
  drainMs?: number
  /** How long to wait for connections to close before cutting them. Defaults to 5000. */
  timeoutMs?: number
}

export interface HoldfastServer {
  /** Starts an HTTP server of its own. Port 0 picks a free port; read it from `port` or `url`. */
  listen(port?: number, options?: ListenOptions): Promise<void>
  /** Serves Holdfast from an existing Node HTTP server; other requests still reach its own handlers. */
  attach(httpServer: Server): void
  /** Publishes from the backend, as `POST /publish` does, without the HTTP round trip or auth. */
  publish(channel: string, data: unknown, options?: PublishOptions): Promise<PublishResponse>
  /** Stops accepting, tells every client when to come back, closes them, then stops. */
  close(options?: CloseOptions): Promise<void>
  /** The bound port, once listening. */
  readonly port: number | undefined
  /** Base URL, e.g. `http://127.0.0.1:8080`, once listening. */
  readonly url: string | undefined
  readonly broker: Broker
  /** Open connections, all transports together (held polls included). */
  readonly connectionCount: number
  /** True from the start of `close()`. */
  readonly draining: boolean
  /**
   * This server's Prometheus registry (also served at `GET <basePath>/metrics`); `undefined` with
   * `metrics: false`. Read it in-process with `await server.metrics.metrics()` or `getMetricsAsJSON()`.
   */
  readonly metrics: Registry | undefined
}

/** Creates the Holdfast reference server. See `ServerOptions` for every option and its default. */
export function createServer(options: ServerOptions = {}): HoldfastServer {
  const resolved = resolveOptions(options)
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger
  const ownsBroker = options.broker === undefined
  let draining = false
  const connections = new ConnectionRegistry(resolved.maxConnectionsPerAddress)
  let ownBroker: MemoryBroker | undefined
  const metrics =
    options.metrics === false
      ? noMetrics
      : createServerMetrics(options.metrics ?? {}, connections, clock, () => ownBroker?.stats())
  const broker: Broker =
    options.broker ??
    // biome-ignore lint/suspicious/noAssignInExpressions: the default broker is also kept for its stats
    (ownBroker = memoryBroker({
      ...(options.history === undefined ? {} : { history: options.history }),
      ...(options.idempotencyWindowMs === undefined
        ? {}
        : { idempotencyWindowMs: options.idempotencyWindowMs }),
      ...(options.idempotencyMaxKeys === undefined ? {} : { idempotencyMaxKeys: options.idempotencyMaxKeys }),
      onEvict: (eviction) => metrics.historyEvicted(eviction),
      clock,
      logger,
    }))
  const resyncListeners = new Set<ResyncListener>()
  const ctx: ServerContext = {
    options: resolved,
    broker,
    authenticator: createAuthenticator(resolved.auth, clock),
    clock,
    logger,
    random: options.random ?? Math.random,
    connections,
    limits: {
      admission: resolved.connectionRate
        ? new ConnectionAdmission(resolved.connectionRate, clock)
        : undefined,
      authFailures: resolved.authFailureRate
        ? new KeyedRateLimiter(resolved.authFailureRate, clock)
        : undefined,
      publishPerClient: resolved.publishRatePerClient
        ? new KeyedRateLimiter(resolved.publishRatePerClient, clock)
        : undefined,
      publishPerConnection: resolved.publishRate ? new Rate(resolved.publishRate) : undefined,
    },
    metrics,
    resyncListeners,
    feeds: { broker, maxBufferedBytes: resolved.sendBufferBytes, logger, resyncListeners },
    presence: new PresenceService(broker.presence, resolved.presence, clock, logger),
    isDraining: () => draining,
  }
  const stopResync = broker.onResync((channels) => {
    metrics.resynced()
    logger.warn(
      { feeds: ctx.resyncListeners.size, ...(channels ? { channels: channels.size } : {}) },
      channels
        ? '[holdfast] broker resync: re-reading the subscriptions of the affected channels'
        : '[holdfast] broker resync: re-reading every subscription',
    )
    for (const listener of [...ctx.resyncListeners]) {
      try {
        listener.resync(channels)
      } catch (error) {
        logger.error(errorFields(error), '[holdfast] resync listener failed')
      }
    }
  })
  const handleRequest = createRequestHandler(ctx)
  const websocket = createWebSocketHandler(ctx)

  let httpServer: Server | undefined
  let ownsHttpServer = false
  let detach: (() => void) | undefined
  let closing: Promise<void> | undefined

  function attach(server: Server): void {
    if (httpServer)
      throw new Error('[holdfast] this server is already attached; create another to serve twice')
    if (closing) throw new Error('[holdfast] this server was closed')
    httpServer = server
    // Take over 'request' and hand back whatever is not ours, so a host app keeps its routes.
    const previous = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
    server.removeAllListeners('request')
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      try {
        if (handleRequest(req, res)) return
        if (previous.length > 0) for (const listener of previous) listener.call(server, req, res)
        else
          sendError(
            res,
            404,
            'bad_request',
            `no such endpoint; Holdfast serves ${Object.values(Endpoint).join(', ')}`,
          )
      } catch (error) {
        logger.error(errorFields(error), '[holdfast] request routing failed')
        if (!res.headersSent) sendError(res, 500, 'internal', 'internal server error')
      }
    }
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        let pathname: string
        try {
          pathname = new URL(req.url ?? '/', 'http://holdfast.invalid').pathname
        } catch {
          // Anyone can send a malformed request line: a typed 400, never an error-level log line.
          socket.on('error', () => {})
          rejectUpgrade(socket, 400, 'bad_request', 'malformed request URL')
          return
        }
        if (endpointOf(pathname, resolved.basePath) === Endpoint.WebSocket) {
          websocket.handleUpgrade(req, socket, head)
        } else if (server.listenerCount('upgrade') === 1) {
          rejectUpgrade(
            socket,
            404,
            'bad_request',
            `WebSocket lives at ${resolved.basePath}${Endpoint.WebSocket}`,
          )
        }
      } catch (error) {
        logger.error(errorFields(error), '[holdfast] upgrade failed')
        socket.destroy()
      }
    }
    server.on('request', onRequest)
    server.on('upgrade', onUpgrade)
    detach = () => {
      server.off('request', onRequest)
      server.off('upgrade', onUpgrade)
      for (const listener of previous) server.on('request', listener)
    }
  }

  function address(): AddressInfo | undefined {
    const a = httpServer?.address()
    return a && typeof a === 'object' ? a : undefined
  }

  function baseUrl(): string | undefined {
    const a = address()
    if (!a) return undefined
    const wildcard = a.address === '::' || a.address === '0.0.0.0'
    const host = wildcard ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address
    return `http://${host}:${a.port}${resolved.basePath}`
  }

  async function shutdown(closeOptions: CloseOptions): Promise<void> {
    draining = true
    const drainMs = closeOptions.drainMs ?? 0
    const timeoutMs = closeOptions.timeoutMs ?? 5000
    logger.info({ connections: ctx.connections.size, drainMs }, '[holdfast] draining')
    ctx.connections.drainAll(drainMs, ctx.random)
    // Idle keep-alive connections would carry the next request back here; closing them sends it elsewhere.
    if (httpServer && ownsHttpServer) httpServer.closeIdleConnections()
    if (!(await ctx.connections.waitUntilEmpty(timeoutMs, clock))) {
      logger.warn(
        {
          connections: ctx.connections.size,
          websocket: ctx.connections.count('websocket'),
          sse: ctx.connections.count('sse'),
          poll: ctx.connections.count('poll'),
        },
        '[holdfast] connections did not close in time; cutting them',
      )
      ctx.connections.terminateAll()
      // Cut sockets report their close a tick later; resolve only once they have.
      await ctx.connections.waitUntilEmpty(1000, clock)
    }
    websocket.close()
    ctx.presence.close()
    stopResync()
    detach?.()
    if (httpServer && ownsHttpServer) {
      const server = httpServer
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Requests still running (a static file, a publish) get a moment, then the door shuts.
        const cut = clock.setTimeout(() => server.closeAllConnections(), timeoutMs)
        server.once('close', () => clock.clearTimeout(cut))
      })
    }
    if (ownsBroker) await broker.close()
    logger.info({}, '[holdfast] closed')
  }

  return {
    async listen(port = 0, listenOptions = {}) {
      if (httpServer) throw new Error('[holdfast] already listening or attached')
      const server = createHttpServer({
        headersTimeout: resolved.headersTimeoutMs,
        requestTimeout: resolved.requestTimeoutMs,
        keepAliveTimeout: resolved.keepAliveTimeoutMs,
        // How often the two timeouts above are enforced (Node's default, 30 s, would let a slowloris
        // connection sit 30 s past them).
        connectionsCheckingInterval: Math.min(1000, resolved.headersTimeoutMs),
      })
      attach(server)
      ownsHttpServer = true
      // An open server is for development: it binds loopback unless a host is given explicitly.
      const host = listenOptions.host ?? (resolved.auth ? undefined : '127.0.0.1')
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          const bind = { port, ...(host === undefined ? {} : { host }) }
          server.listen(bind, () => {
            server.off('error', reject)
            resolve()
          })
        })
      } catch (error) {
        // Leave this server reusable: the caller may retry on another port.
        detach?.()
        detach = undefined
        httpServer = undefined
        ownsHttpServer = false
        throw error
      }
      server.on('error', (error) => logger.error(errorFields(error), '[holdfast] HTTP server error'))
      logger.info(
        { url: baseUrl(), open: !resolved.auth, host: host ?? 'every interface' },
        '[holdfast] listening',
      )
    },

    attach,

    async publish(channel, data, publishOptions = {}) {
      if (!isChannelName(channel))
        throw new HoldfastServerError(
          'invalid_channel',
          `"${String(channel).slice(0, 60)}" is not a channel name`,
        )
      if (parsePresenceChannel(channel) !== undefined)
        throw new HoldfastServerError(
          'forbidden',
          `"${channel.slice(0, 60)}" is a presence channel: its events are the server's own (PROTOCOL.md §8)`,
        )
      if (publishOptions.idempotencyKey !== undefined && !isIdempotencyKey(publishOptions.idempotencyKey))
        throw new HoldfastServerError('bad_request', 'idempotencyKey must be 1 to 200 printable characters')
      const json = encodePayload(data, resolved.maxMessageBytes)
      const result = await broker.publish(channel, json, publishOptions)
      metrics.published('server', result.duplicate)
      return { cursor: result.cursor, duplicate: result.duplicate }
    },

    close(closeOptions = {}) {
      closing ??= shutdown(closeOptions)
      return closing
    },

    get port() {
      return address()?.port
    },

    get url() {
      return baseUrl()
    },

    broker,

    get connectionCount() {
      return ctx.connections.size
    },

    get draining() {
      return draining
    },

    metrics: metrics.registry,
  }
}
