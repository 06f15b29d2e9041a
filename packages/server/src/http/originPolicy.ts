import type { IncomingMessage } from 'node:http'

/**
 * Whether a request's `Origin` may use the server. Without an allowlist, only requests with no
 * `Origin` (non-browser clients, same-origin navigations) and same-host pages get in: a page on some
 * other site must never ride a user's session into the realtime API.
 */
export function isOriginAllowed(
  req: IncomingMessage,
  allowedOrigins: readonly string[] | undefined,
): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  if (allowedOrigins) return allowedOrigins.includes('*') || allowedOrigins.includes(origin)
  if (origin === 'null') return false
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}
