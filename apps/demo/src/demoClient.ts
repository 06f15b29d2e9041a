import { type ConnectionState, createClient, type HoldfastClient } from '@holdfast/client'
import { log } from './eventLog'

/**
 * This page's id. Its clients connect under `/p/<id>` (the demo server maps that to Holdfast's endpoints),
 * so the demo server can tell this page's connections from other tabs': "Expire token" and "Cause a gap"
 * act on this page alone.
 */
export const pageId = crypto.randomUUID().slice(0, 8)
const baseUrl = `${location.origin}/p/${pageId}`
/**
 * Who this page chats as: `?user=` or a guest name. The demo server signs it into the token's `sub`, which
 * presence uses as the client id, so two tabs of one user show as one user online.
 */
export const userName =
  new URLSearchParams(location.search)
    .get('user')
    ?.replace(/[^A-Za-z0-9_.-]/g, '')
    .slice(0, 40) || `guest-${Math.floor(Math.random() * 1000)}`

/** Why a token was fetched: the first one, on a live connection (in band), or for a new connection. */
type TokenUse = 'first' | 'live' | 'new-connection'

/**
 * A `getToken` that fetches this page's tokens from the demo server (which signs them) and tells `onToken`
 * what each one was for, judged by the client's state when it asked.
 */
function tokenSource(client: () => HoldfastClient | undefined, onToken: (use: TokenUse) => void) {
  let first = true
  return async (): Promise<string> => {
    const status = client()?.state.status
    const response = await fetch(`/demo/token?page=${pageId}&user=${encodeURIComponent(userName)}`)
    if (!response.ok) throw new Error(`the demo's token endpoint answered ${response.status}`)
    const token = await response.text()
    onToken(first ? 'first' : status === 'connected' ? 'live' : 'new-connection')
    first = false
    return token
  }
}

let main: HoldfastClient | undefined
let tokenForNextConnection = false
/** The error the last debug line explained: the same error reported again adds nothing to the log. */
let lastExplained: string | undefined

/** The main client: WebSocket first, with SSE and long polling behind it. */
export const client: HoldfastClient = createClient({
  url: baseUrl,
  getToken: tokenSource(
    () => main,
    (use) => {
      if (use === 'live') log(`token refreshed in-band (${client.state.transport})`, { note: true })
      else if (use === 'new-connection') tokenForNextConnection = true
    },
  ),
  // Try WebSocket again soon after a fallback, so "Allow WebSocket" shows within seconds (the client
  // doubles the interval after every failed try).
  fallback: { probeIntervalMs: 2000 },
  backoff: { initialMs: 300, maxMs: 5000 },
  // The client's own account of why a connection ended ("websocket closed: refresh"), for the event log.
  debug: (message, details) => {
    if (details instanceof Error) lastExplained = details.message
    log(details instanceof Error ? `${message}: ${details.message}` : message)
  },
})
main = client

/** Notifications only flow server to client: SSE is the natural fit. */
export const feedClient = createClient({
  url: baseUrl,
  getToken: tokenSource(
    () => feedClient,
    () => {},
  ),
  transports: ['sse'],
  lazy: true,
})

const RANK = ['websocket', 'sse', 'longpoll']

/** Writes what the main client goes through into the event log. Returns a function that stops it. */
export function logClientEvents(): () => void {
  let lastConnected: string | undefined
  const describe = (s: ConnectionState): string => {
    switch (s.status) {
      case 'connecting':
        return `connecting (${s.transport})`
      case 'connected':
        return `connected (${s.transport})`
      case 'reconnecting':
        return `reconnecting (${s.transport}), attempt ${s.attempt} in ${Math.max(0, Math.round(s.nextRetryAt - Date.now()))} ms`
      case 'closed':
        return `closed${s.error ? `: ${s.error.code}` : ''}`
    }
  }
  const offs = [
    client.onStateChange((s) => {
      log(describe(s))
      if (s.status !== 'connected') return
      if (lastConnected && lastConnected !== s.transport) {
        const down = RANK.indexOf(s.transport) > RANK.indexOf(lastConnected)
        log(
          down
            ? `fell back from ${lastConnected} to ${s.transport}`
            : `moved back up from ${lastConnected} to ${s.transport}`,
          { note: true },
        )
      }
      lastConnected = s.transport
      if (tokenForNextConnection) {
        tokenForNextConnection = false
        log(`reconnected with a new token (${s.transport})`, { note: true })
      }
    }),
    client.on('gap', (g) =>
      log(`gap on ${g.channel}: the server no longer had the messages after ${g.since}; it said so`, {
        note: true,
      }),
    ),
    client.on('error', (e) => e.message !== lastExplained && log(`error ${e.code}: ${e.message}`)),
  ]
  return () => {
    for (const off of offs) off()
  }
}

/** POSTs to a demo control route; resolves with its JSON answer. */
export async function control<T>(path: string): Promise<T> {
  const response = await fetch(path, { method: 'POST' })
  const body = await response.json()
  if (!response.ok) throw new Error(body?.error?.message ?? `${path} answered ${response.status}`)
  return body as T
}

// Exposed for the e2e suite's diagnostics and for poking at from the devtools console.
Object.assign(window as object, { holdfast: client, holdfastPage: pageId })
