import type { IncomingMessage } from 'node:http'

/**
 * Whether a request's `Origin` may use the server. Without an allowlist, only requests with no `Origin`
 * (non-browser clients, same-origin navigations) and same-host pages get in: a page on some other site must
 * never ride a user's session into the realtime API. An open server (no `auth`) trusts same-host pages only
 * on a loopback name: a DNS-rebinding page (`evil.test` resolved to 127.0.0.1) is same-host by construction,
 * and nothing else would stop it from using a development server on the developer's machine.
 */
export function isOriginAllowed(
  req: IncomingMessage,
  options: { allowedOrigins: readonly string[] | undefined; auth: unknown },
): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true
  const { allowedOrigins } = options
  if (allowedOrigins) return allowedOrigins.includes('*') || allowedOrigins.includes(origin)
  if (origin === 'null') return false
  try {
    const url = new URL(origin)
    return url.host === req.headers.host && (options.auth !== undefined || isLoopbackName(url.hostname))
  } catch {
    return false
  }
}

/** `localhost`, `*.localhost` (RFC 6761 §6.3), 127.0.0.0/8 and `[::1]`, as a WHATWG URL normalizes them. */
function isLoopbackName(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  )
}
