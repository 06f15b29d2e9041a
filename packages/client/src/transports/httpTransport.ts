import {
  formatCursorMap,
  HEALTH_PATH,
  IDEMPOTENCY_KEY_HEADER,
  PUBLISH_PATH,
  type PublishResponse,
  parseRetryAfter,
  type ServerFrame,
  validateServerFrame,
} from '@holdfast/protocol'
import { classifyDisconnect, type Disconnect } from '../core/classifyDisconnect'
import type { PublishResult } from '../core/Publisher'
import { HoldfastError } from '../HoldfastError'
import { endpointUrl } from './endpointUrl'
import { NO_CURSOR, type SubscriptionRequest, type Transport, type TransportHost } from './Transport'

/** How one request ended: a disconnect to report, `again` (next poll at once), or `undefined` (aborted). */
export type AttemptResult = Disconnect | 'again' | undefined

/**
 * One request of an HTTP transport. `url` is the endpoint with `?channel=a&channel=b`; `since` the cursor
 * map of the channels that have a resume point; `headers` carry the token (the attempt may add to them);
 * `signal` aborts it (close, or the channel set changed); `open()` tells the core the connection is up;
 * `opened` says whether it already is (false: the first request of a new connection).
 */
export type HttpAttempt = (
  url: string,
  since: string | undefined,
  headers: Record<string, string>,
  signal: AbortSignal,
  open: () => void,
  subscriptions: SubscriptionRequest[],
  opened: boolean,
) => Promise<AttemptResult>

/**
 * The connection loop of the one-way HTTP transports (SSE, long polling). A connection is a run of
 * requests: it goes round again at once for the next poll or a new channel set, and reports `closed` to
 * the core when a request fails. Publishing is `POST /publish`, one at a time so order is kept.
 */
export function httpTransport(
  host: TransportHost,
  name: 'sse' | 'longpoll',
  path: string,
  attempt: HttpAttempt,
): Transport {
  let closed = false
  let running = false
  let opened = false
  let controller: AbortController | undefined
  const open = () => {
    if (!opened) {
      opened = true
      host.opened()
    }
  }
  const resync = () => controller?.abort()

  const once = async (signal: AbortSignal): Promise<AttemptResult> => {
    let headers: Record<string, string>
    try {
      headers = authHeaders(await host.token())
    } catch (error) {
      return { opened, error: HoldfastError.from(error, 'unauthorized') }
    }
    const subscriptions = host.subscriptions()
    if (signal.aborted) return
    if (subscriptions.length === 0) {
      // No channels: check the server answers (so publishing works), then wait for something to do.
      if (!opened) {
        const failed = await request(host, endpointUrl(host.url, HEALTH_PATH), { headers, signal })
        if (typeof failed !== 'string') return failed
        open()
      }
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined)))
    }
    const since = new Map<string, string>()
    for (const sub of subscriptions) if (sub.since) since.set(sub.channel, sub.since)
    const url = `${endpointUrl(host.url, path)}?${subscriptions.map((s) => `channel=${encodeURIComponent(s.channel)}`).join('&')}`
    const result = await attempt(
      url,
      since.size > 0 ? formatCursorMap(since) : undefined,
      headers,
      signal,
      open,
      subscriptions,
      opened,
    )
    // The server refused one channel of the set and named it (PROTOCOL.md §2): as on WebSocket, that channel's
    // subscribers get the error frame and the others are asked for again at once. A probe's reports are
    // ignored, so it still asks for the channel: then the attempt fails as it is.
    const answer = (parseJson((result as Disconnect | undefined)?.reason) as { error?: { channel?: string } })
      ?.error
    const asks = (list: SubscriptionRequest[]) => list.some((s) => s.channel === answer?.channel)
    if (!asks(subscriptions)) return result
    deliver(host, { ...answer, type: 'error' })
    return asks(host.subscriptions()) ? result : 'again'
  }

  const run = async () => {
    running = true
    for (;;) {
      controller = new AbortController()
      const result = await once(controller.signal).catch(
        (error: unknown): Disconnect => ({ opened, error: HoldfastError.from(error, 'disconnected') }),
      )
      if (closed) return
      if (result === 'again' || result === undefined) continue
      // The connection counts as opened when any of its requests got through.
      if (opened) result.opened = true
      running = opened = false
      return host.closed(result)
    }
  }

  return {
    name,
    concurrency: 1,
    open: () => void (running || closed || run()),
    close() {
      closed = true
      resync()
    },
    subscribe: resync,
    unsubscribe: resync,
    // The next request carries the new token: reopen now so a long-lived stream does not outlive the old one.
    auth: resync,
    async publish({ channel, data, key }): Promise<PublishResult> {
      if (!opened) throw new HoldfastError('not_connected', `${name} is not connected`)
      const body = JSON.stringify({ channel, data })
      for (let fresh = false; ; fresh = true) {
        const headers = {
          'content-type': 'application/json',
          [IDEMPOTENCY_KEY_HEADER]: key,
          ...authHeaders(await host.token(fresh)),
        }
        const text = await request(host, endpointUrl(host.url, PUBLISH_PATH), {
          method: 'POST',
          headers,
          body,
        })
        if (typeof text === 'string') {
          const parsed = parseJson(text) as Partial<PublishResponse> | undefined
          if (typeof parsed?.cursor !== 'string') throw new HoldfastError('bad_frame', NO_CURSOR)
          return { cursor: parsed.cursor, duplicate: parsed.duplicate === true }
        }
        // A 401 gets one retry with a fresh token.
        if (fresh || text.status !== 401) throw classifyDisconnect(text).error
      }
    },
  }
}

/**
 * One request: the body text of a 2xx answer, or the facts of a failure (status and body, or the network
 * error), ready for the classifier. Rejects only when aborted.
 */
export async function request(
  host: TransportHost,
  url: string,
  init: RequestInit,
): Promise<string | Disconnect> {
  let response: Response
  let text: string
  try {
    response = await host.fetch()(url, { cache: 'no-store', ...init })
    text = await response.text()
  } catch (error) {
    if (init.signal?.aborted) throw error
    // Refused, offline, reset: the classifier says so.
    return { opened: false }
  }
  return response.ok
    ? text
    : {
        opened: false,
        status: response.status,
        reason: text,
        hintMs: parseRetryAfter(response.headers.get('retry-after'), host.now()),
      }
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {}
}

export function parseJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text as string)
  } catch {
    return undefined
  }
}

/**
 * Validates a frame rebuilt from an HTTP response and hands it to the core; reports one that does not
 * validate. Returns the frame.
 */
export function deliver(host: TransportHost, candidate: unknown): ServerFrame | undefined {
  const decoded = validateServerFrame(candidate)
  if (decoded.ok) {
    if (decoded.frame.type !== 'reconnect') host.frame(decoded.frame)
    return decoded.frame
  }
  host.error(new HoldfastError('bad_frame', `invalid frame: ${decoded.error.message}`))
}
