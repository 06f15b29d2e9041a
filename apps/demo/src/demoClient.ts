import { createClient } from '@holdfast/client'

// Tokens come from the demo server, which signs short-lived JWTs. "Expire token" asks for tokens
// that live two seconds, so the client's in-band refresh can be watched in the event log.
let nextTokenTtl = 60
export function expireTokenSoon(): void {
  nextTokenTtl = 2
}

async function getToken(): Promise<string> {
  const ttl = nextTokenTtl
  nextTokenTtl = 60
  const response = await fetch(`/demo/token?ttl=${ttl}`)
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`)
  return response.text()
}

/** The main client: WebSocket first, with SSE and long polling behind it. */
export const client = createClient({
  url: location.origin,
  getToken,
  tokenRefreshMarginMs: 1000,
  fallback: { probeIntervalMs: 10_000 },
  backoff: { initialMs: 300, maxMs: 5000 },
})

/** Notifications only flow server to client: SSE is the natural fit. */
export const feedClient = createClient({ url: location.origin, getToken, transports: ['sse'], lazy: true })

// Exposed for the e2e suite's diagnostics and for poking at from the devtools console.
;(window as unknown as { holdfast: typeof client }).holdfast = client
