import { type BackoffOptions, nextBackoffDelay, resolveBackoff } from '../core/backoff'
import { globalTimers, systemClock, Timer, type Timers } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import type { FetchFunction } from '../transports/Transport'
import { errorFromBody, readEventStream } from './readEventStream'

/** One event from the stream. `event` is `undefined` for unnamed events (`message` in EventSource terms). */
export interface StreamEvent {
  id: string | undefined
  event: string | undefined
  data: string
}

export interface EventStreamOptions {
  /** Called for every event. */
  onEvent: (event: StreamEvent) => void
  /** Called on every successful (re)connection. */
  onOpen?: (response: Response) => void
  /** Called for every failure; `willRetry` says whether the stream reconnects. */
  onError?: (error: HoldfastError, willRetry: boolean) => void
  /** Headers for every request; a function is called before each (re)connection, so tokens stay fresh. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)
  /** Called on a 401; the stream reconnects at once afterwards (use it to refresh the token `headers` returns). */
  onUnauthorized?: () => void | Promise<void>
  /** Resume point for the first connection. */
  lastEventId?: string
  /** Reconnect delays: full jitter by default; the server's `retry:` is a floor under them. */
  backoff?: BackoffOptions
  /** No bytes at all for this long: reconnect. Defaults to 45000. */
  idleTimeoutMs?: number
  fetch?: FetchFunction
  timers?: Timers
  now?: () => number
  random?: () => number
}

export interface EventStream {
  /** The id of the last event received, sent as `Last-Event-ID` on reconnect. */
  readonly lastEventId: string | undefined
  /** `connecting`, `open`, or `closed` (after `close()` or a 403/404/other permanent failure). */
  readonly readyState: 'connecting' | 'open' | 'closed'
  close(): void
}

/**
 * A resilient reader for any standard SSE endpoint (not only Holdfast's): reconnects with jitter,
 * sends `Last-Event-ID`, honours `retry:` and `Retry-After`, refreshes headers, and treats a
 * silent stream as dead.
 */
export function createEventStream(url: string, options: EventStreamOptions): EventStream {
  const fetchImpl = () => options.fetch ?? (globalThis.fetch.bind(globalThis) as FetchFunction)
  const timers = options.timers ?? globalTimers
  const now = options.now ?? systemClock
  const random = options.random ?? Math.random
  const backoff = resolveBackoff(options.backoff)
  const waitTimer = new Timer(timers)
  let lastEventId = options.lastEventId
  let readyState: EventStream['readyState'] = 'connecting'
  const isClosed = () => readyState === 'closed'
  let controller: AbortController | undefined
  let wake: (() => void) | undefined
  let attempt = 0
  let previousDelay = backoff.initialMs
  let retryFloor = 0

  const fail = (error: HoldfastError, willRetry: boolean) => {
    try {
      options.onError?.(error, willRetry)
    } catch {
      // a throwing error handler must not stop the stream
    }
  }

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve
      waitTimer.start(ms, resolve)
    })

  const run = async () => {
    let delay = 0
    while (!isClosed()) {
      if (delay > 0) await wait(delay)
      if (isClosed()) return
      readyState = 'connecting'
      controller = new AbortController()
      let headers: Record<string, string>
      try {
        headers =
          typeof options.headers === 'function' ? await options.headers() : { ...(options.headers ?? {}) }
      } catch (error) {
        fail(HoldfastError.from(error, 'unauthorized'), true)
        delay = next()
        continue
      }
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
      let openedAt: number | undefined
      const end = await readEventStream({
        fetch: fetchImpl(),
        url,
        headers,
        signal: controller.signal,
        idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
        timers,
        now,
        onOpen: (response) => {
          readyState = 'open'
          openedAt = now()
          options.onOpen?.(response)
        },
        onRetry: (ms) => {
          retryFloor = ms
        },
        onEvent: (event) => {
          // Per the SSE spec an id field, even empty, sets the last event id.
          if (event.id !== undefined) lastEventId = event.id
          options.onEvent({ id: event.id, event: event.event, data: event.data })
        },
      })
      if (isClosed()) return
      if (openedAt !== undefined && now() - openedAt >= backoff.stableAfterMs) attempt = 0
      switch (end.kind) {
        case 'aborted':
          return
        case 'http':
          if (end.status === 401 && options.onUnauthorized) {
            try {
              await options.onUnauthorized()
            } catch (error) {
              fail(HoldfastError.from(error, 'unauthorized'), true)
            }
            fail(errorFromBody(401, end.body), true)
            delay = 0
            continue
          }
          if (end.status === 429 || end.status === 503 || end.status >= 500) {
            fail(errorFromBody(end.status, end.body, end.retryAfterMs), true)
            delay = Math.max(next(), end.retryAfterMs ?? 0)
            continue
          }
          // 204 No Content means "stop reconnecting" in the SSE spec; other 4xx will not change by retrying.
          readyState = 'closed'
          fail(errorFromBody(end.status, end.body), false)
          return
        case 'not-sse':
          readyState = 'closed'
          fail(
            new HoldfastError(
              'transport_unavailable',
              `expected text/event-stream, got "${end.contentType}"`,
            ),
            false,
          )
          return
        case 'idle':
          fail(new HoldfastError('timeout', 'stream silent past idleTimeoutMs'), true)
          break
        case 'network':
          fail(new HoldfastError('disconnected', 'stream connection failed', { cause: end.error }), true)
          break
        case 'parse':
          fail(
            new HoldfastError('bad_frame', 'event larger than the parser buffer', { cause: end.error }),
            true,
          )
          break
        case 'ended':
          break
      }
      delay = Math.max(next(), retryFloor)
    }
  }

  const next = () => {
    const d = nextBackoffDelay(backoff, attempt, previousDelay, random)
    previousDelay = Math.max(d, backoff.initialMs)
    attempt++
    return d
  }

  void run()

  return {
    get lastEventId() {
      return lastEventId
    },
    get readyState() {
      return readyState
    },
    close() {
      readyState = 'closed'
      waitTimer.cancel()
      wake?.()
      controller?.abort()
    },
  }
}
