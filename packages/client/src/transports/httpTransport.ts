import { Endpoint, formatCursorMap, type ServerFrame, validateServerFrame } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import { endpointUrl } from './endpointUrl'
import { authHeaders, postPublish } from './httpHelpers'
import type { DisconnectInfo, Transport, TransportContext } from './Transport'

/**
 * How one attempt ended. `resync`: go round again at once, without a backoff wait (new channel set,
 * new token, next poll). `undefined`: the attempt was aborted; the loop works out why.
 */
export type AttemptResult = DisconnectInfo | 'resync' | undefined

/**
 * One request of an HTTP transport, given by the shared loop: `url` is the transport's endpoint with
 * `?channel=a&channel=b`; `since` the cursor map of the channels that have a resume point, if any;
 * `headers` carry the token (a fresh object the attempt may add to); `controller` is aborted by `stop`,
 * `reconnect` and resubscribing (long polling also aborts it at its deadline); `connected` says whether
 * the core has been told this transport is connected, and `open()` tells it (once per connection).
 */
export type HttpAttempt = (
  url: URL,
  since: string | undefined,
  headers: Record<string, string>,
  controller: AbortController,
  connected: boolean,
  open: () => void,
) => Promise<AttemptResult>

/**
 * The connection loop shared by the one-way HTTP transports (SSE, long polling). `attempt` makes one
 * request at a time; this owns waiting (through the core's backoff), tokens, publishing over
 * `POST /publish`, and reopening when the channel set or the token changes.
 */
export function httpTransport(
  ctx: TransportContext,
  name: 'sse' | 'longpoll',
  path: string,
  attempt: HttpAttempt,
): Transport {
  let stopped = false
  /** Whether the core has been told this transport is connected. */
  let connected = false
  let controller: AbortController | undefined
  // A reconnect (or stop) outranks a resync if both arrive before the loop wakes.
  let reconnecting = false

  const abort = (reconnect?: boolean) => {
    if (reconnect) reconnecting = true
    controller?.abort()
  }
  const resync = () => abort()
  const open = () => {
    if (!connected) {
      connected = true
      ctx.opened()
    }
  }

  const once = async (controller: AbortController): Promise<AttemptResult> => {
    let headers: Record<string, string>
    try {
      headers = authHeaders(await ctx.getToken())
    } catch (error) {
      const err = HoldfastError.from(error, 'unauthorized')
      return { opened: connected, action: err.code === 'forbidden' ? 'stop' : 'reconnect', error: err }
    }
    if (stopped) return
    const subscriptions = ctx.subscriptions()
    try {
      if (subscriptions.length === 0) return await idle(headers, controller.signal)
      const url = new URL(endpointUrl(ctx.baseUrl, path))
      const since = new Map<string, string>()
      for (const sub of subscriptions) {
        url.searchParams.append('channel', sub.channel)
        if (sub.since) since.set(sub.channel, sub.since)
      }
      return await attempt(
        url,
        since.size > 0 ? formatCursorMap(since) : undefined,
        headers,
        controller,
        connected,
        open,
      )
    } catch (error) {
      return { opened: connected, action: 'reconnect', error: HoldfastError.from(error, 'disconnected') }
    }
  }

  /** No channels: check the server answers (so publishing works), then wait for something to do. */
  const idle = async (headers: Record<string, string>, signal: AbortSignal): Promise<AttemptResult> => {
    if (!connected) {
      try {
        const response = await ctx.fetch()(endpointUrl(ctx.baseUrl, Endpoint.Health), { headers, signal })
        void response.body?.cancel().catch(() => {})
        if (!response.ok) {
          return {
            opened: false,
            action: 'reconnect',
            error: new HoldfastError('transport_unavailable', `health check answered ${response.status}`),
          }
        }
      } catch (error) {
        if (signal.aborted) return
        return {
          opened: false,
          action: 'reconnect',
          error: new HoldfastError('disconnected', 'server unreachable', { cause: error }),
        }
      }
      open()
    }
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
  }

  const run = async () => {
    for (let wait = true; !stopped; ) {
      if (wait && !(await ctx.waitToConnect())) return
      if (stopped) return
      reconnecting = false
      controller = new AbortController()
      const result =
        (await once(controller)) ?? (reconnecting ? { opened: connected, action: 'reconnect' } : 'resync')
      if (stopped) return
      wait = result !== 'resync'
      if (result !== 'resync') {
        connected = false
        ctx.closed(result)
      }
    }
  }

  return {
    name,
    publishConcurrency: 1,
    start: () => void run(),
    stop() {
      stopped = true
      abort(true)
    },
    syncSubscriptions: resync,
    refreshToken: resync,
    reconnect: () => abort(true),
    publish: (request) =>
      connected
        ? postPublish(ctx, request)
        : Promise.reject(new HoldfastError('not_connected', `${name} is not connected`)),
  }
}

/**
 * Validates a frame rebuilt from an HTTP response and hands it to the core, except a `reconnect`
 * hint, which only the transport needs; reports one that does not validate. Returns the frame.
 */
export function deliver(ctx: TransportContext, candidate: unknown, what: string): ServerFrame | undefined {
  const decoded = validateServerFrame(candidate)
  if (!decoded.ok) {
    ctx.error(new HoldfastError('bad_frame', `invalid ${what}: ${decoded.error.message}`))
    return
  }
  if (decoded.frame.type !== 'reconnect') ctx.frame(decoded.frame)
  return decoded.frame
}
