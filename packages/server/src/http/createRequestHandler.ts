import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Endpoint } from '@holdfast/protocol'
import { bearerToken } from '../auth/createAuthenticator'
import { HoldfastServerError } from '../HoldfastServerError'
import { errorFields } from '../Logger'
import type { ServerContext } from '../ServerContext'
import { pollHandler } from '../transports/pollHandler'
import { sseHandler } from '../transports/sseHandler'
import { answerPreflight, applyCors } from './cors'
import { isOriginAllowed } from './originPolicy'
import { publishHandler } from './publishHandler'
import { sendError, sendJson } from './responses'
import { createStaticHandler } from './staticHandler'

type Handler = (ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>

const ROUTES: Record<string, { methods: string[]; handle: Handler }> = {
  [Endpoint.Health]: {
    methods: ['GET', 'HEAD'],
    handle: async (_ctx, _req, res) => sendJson(res, 200, { status: 'ok' }),
  },
  [Endpoint.Publish]: { methods: ['POST'], handle: (ctx, req, res) => publishHandler(ctx, req, res) },
  [Endpoint.Sse]: { methods: ['GET'], handle: sseHandler },
  [Endpoint.Poll]: { methods: ['GET'], handle: pollHandler },
  [Endpoint.WebSocket]: {
    methods: ['GET'],
    handle: async (_ctx, _req, res) =>
      sendError(res, 426, 'bad_request', 'this endpoint speaks WebSocket only (subprotocol holdfast.v1)', {
        Upgrade: 'websocket',
      }),
  },
}

/** Prometheus metrics of this server (`ServerOptions.metrics`). */
export const METRICS_PATH = '/metrics'

/** Splits a request path into the endpoint under `basePath`, or null when it is not one of ours. */
export function endpointOf(pathname: string, basePath: string): string | null {
  if (basePath === '') return pathname
  if (pathname !== basePath && !pathname.startsWith(`${basePath}/`)) return null
  return pathname.slice(basePath.length) || '/'
}

/**
 * Routes Holdfast's HTTP endpoints (and the static site, when configured). Returns false for requests
 * that are not its own, so a host application's handler can take them.
 */
export function createRequestHandler(
  ctx: ServerContext,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const serveStatic = ctx.options.staticDir ? createStaticHandler(ctx.options.staticDir) : undefined

  return (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://holdfast.invalid')
    } catch {
      sendError(res, 400, 'bad_request', 'malformed request URL')
      return true
    }
    const endpoint = endpointOf(url.pathname, ctx.options.basePath)
    const registry = ctx.metrics.registry
    if (endpoint === METRICS_PATH && registry && (req.method === 'GET' || req.method === 'HEAD')) {
      if (!hasBearer(req.headers.authorization, ctx.options.metricsToken)) {
        sendError(res, 401, 'unauthorized', 'metrics need Authorization: Bearer <metrics token>', {
          'WWW-Authenticate': 'Bearer realm="metrics"',
        })
        return true
      }
      // Served while draining too: a shutdown is when the numbers matter.
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' })
          res.end(req.method === 'HEAD' ? undefined : text)
        },
        (error: unknown) => fail(ctx, res, error),
      )
      return true
    }
    const route = endpoint === null ? undefined : ROUTES[endpoint]
    if (!route) {
      if (!serveStatic) return false
      serveStatic(req, res, url.pathname).catch((error: unknown) => fail(ctx, res, error))
      return true
    }
    if (!isOriginAllowed(req, ctx.options)) {
      ctx.logger.debug({ origin: req.headers.origin }, '[holdfast] HTTP request from a refused origin')
      sendError(res, 403, 'forbidden', 'origin not allowed; add it to allowedOrigins')
      return true
    }
    applyCors(req, res)
    const allow = [...route.methods, 'OPTIONS'].join(', ')
    if (req.method === 'OPTIONS') {
      answerPreflight(req, res, allow)
      return true
    }
    if (ctx.isDraining()) {
      // Closing the connection sends the retry through the load balancer again, to a process that stays.
      const headers = { 'Retry-After': '1', Connection: 'close' }
      if (endpoint === Endpoint.Health) sendJson(res, 503, { status: 'draining' }, headers)
      else sendError(res, 503, 'server_restart', 'the server is shutting down; retry shortly', headers)
      return true
    }
    if (!route.methods.includes(req.method ?? '')) {
      sendError(
        res,
        405,
        'bad_request',
        `${req.method} is not allowed here; use ${route.methods.join(' or ')}`,
        {
          Allow: allow,
        },
      )
      return true
    }
    route.handle(ctx, req, res, url).catch((error: unknown) => fail(ctx, res, error))
    return true
  }
}

/**
 * Answers a failed request. A client's mistake gets its typed 4xx and a debug line at most (anyone can
 * send bad input, so it must not write warnings or errors at will); only a real server fault is `internal`.
 */
function fail(ctx: ServerContext, res: ServerResponse, error: unknown): void {
  const wrapped = HoldfastServerError.from(error)
  if (wrapped.code === 'internal') ctx.logger.error(errorFields(error), '[holdfast] request handler failed')
  else ctx.logger.debug({ code: wrapped.code }, '[holdfast] HTTP request refused')
  if (res.headersSent) {
    res.destroy()
    return
  }
  const headers: Record<string, string> = { ...wrapped.headers }
  // A rejected body was not read to its end; do not leave the rest on a keep-alive connection.
  if (wrapped.code === 'message_too_large') headers.Connection = 'close'
  sendError(res, wrapped.status, wrapped.code, wrapped.message, headers, wrapped.channel)
}

/** True when no token is configured, or the header carries it (compared in constant time). */
function hasBearer(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true
  const given = bearerToken(header) ?? ''
  const digest = (v: string) => createHash('sha256').update(v).digest()
  return timingSafeEqual(digest(given), digest(token))
}
