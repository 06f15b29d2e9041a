import type { IncomingMessage, ServerResponse } from 'node:http'
import { GAP_HEADER, REPLAY_FROM_HEADER } from '@holdfast/protocol'

const ALLOWED_HEADERS = 'Authorization, Content-Type, Idempotency-Key, Last-Event-ID'
const EXPOSED_HEADERS = `${REPLAY_FROM_HEADER}, ${GAP_HEADER}, Retry-After`

/** Grants CORS to an origin that already passed the origin policy. */
export function applyCors(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin
  res.setHeader('Vary', 'Origin')
  if (origin === undefined) return
  res.setHeader('Access-Control-Allow-Origin', origin)
  res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS)
}

/** Answers a CORS preflight. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, methods: string): void {
  applyCors(req, res)
  res.writeHead(204, {
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': ALLOWED_HEADERS,
    'Access-Control-Max-Age': '600',
    'Content-Length': '0',
  })
  res.end()
}
