import { checkOptions } from '../core/checkOptions'
import { classifyDisconnect } from '../core/classifyDisconnect'
import { type BackoffOptions, createRetryPolicy } from '../core/RetryPolicy'
import { globalTimers, systemClock, Timer, type Timers } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import type { FetchFunction } from '../transports/Transport'
import { readEventStream } from './readEventStream'

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
  /**
   * Called on a 401; the stream reconnects at once afterwards (use it to refresh the token `headers`
   * returns). A second 401 in a row closes the stream with `unauthorized`.
   */
  onUnauthorized?: () => void | Promise<void>
  /** Resume point for the first connection (sent as `Last-Event-ID`). */
  lastEventId?: string
  /** Reconnect delays: full jitter by default; the server's `retry:` and `Retry-After` are floors. */
  backoff?: BackoffOptions
  /** No bytes at all for this long (ms): reconnect. Defaults to 45000. */
  idleTimeoutMs?: number
  fetch?: FetchFunction
  timers?: Timers
  now?: () => number
  random?: () => number
}

export interface EventStream {
  /** The id of the last event received, sent as `Last-Event-ID` on reconnect. */
  readonly lastEventId: string | undefined
  /** `connecting`, `open`, or `closed` (after `close()` or a failure retrying cannot fix). */
  readonly readyState: 'connecting' | 'open' | 'closed'
  close(): void
}

/**
 * A resilient reader for any standard SSE endpoint (not only Holdfast's), following the WHATWG rules
 * for interpreting an event stream: reconnects with the client's retry policy (jitter; `retry:` and
 * `Retry-After` as floors), sends `Last-Event-ID`, refreshes headers, treats a silent stream as dead, and
 * stops on failures the client's disconnect classifier calls terminal (403, 404, 204, not SSE).
 */
export function createEventStream(url: string, options: EventStreamOptions): EventStream {
  checkOptions(options)
  const timers = options.timers ?? globalTimers
  const now = options.now ?? systemClock
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000
  const retry = createRetryPolicy(options.backoff, options.random)
  const waitTimer = new Timer(timers)
  let lastEventId = options.lastEventId
  let readyState: EventStream['readyState'] = 'connecting'
  // A function, so TypeScript does not narrow `readyState` across the awaits that close() can interleave.
  const isClosed = () => readyState === 'closed'
  let controller: AbortController | undefined
  let wake: (() => void) | undefined
  let retryMs: number | undefined
  let unauthorized = 0

  const fail = (error: HoldfastError, willRetry: boolean) => {
    try {
      options.onError?.(error, willRetry)
    } catch {
      // a throwing error handler must not stop the stream
    }
  }

  const run = async () => {
    for (let delay = 0; !isClosed(); ) {
      if (delay > 0)
        await new Promise<void>((resolve) => {
          wake = resolve
          waitTimer.start(delay, resolve)
        })
      if (isClosed()) return
      readyState = 'connecting'
      controller = new AbortController()
      let headers: Record<string, string>
      try {
        headers = typeof options.headers === 'function' ? await options.headers() : { ...options.headers }
      } catch (error) {
        fail(HoldfastError.from(error, 'unauthorized'), true)
        delay = retry.next()
        continue
      }
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
      let openedAt: number | undefined
      const ended = await readEventStream({
        fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
        url,
        headers,
        signal: controller.signal,
        idleTimeoutMs,
        timers,
        now,
        onOpen: (response) => {
          readyState = 'open'
          openedAt = now()
          options.onOpen?.(response)
        },
        onRetry: (ms) => {
          retryMs = ms
        },
        // Per the SSE spec every id field, even empty or in a block with no data, sets the last event id.
        onLastEventId: (id) => {
          lastEventId = id
        },
        onEvent: (event) => options.onEvent({ id: event.id, event: event.event, data: event.data }),
      })
      if (isClosed() || !ended) return
      if (openedAt !== undefined && now() - openedAt >= retry.stableAfterMs) retry.reset()
      const decision = classifyDisconnect({ ...ended, hintMs: ended.hintMs ?? retryMs })
      const { action, error } = decision
      if (action === 'refresh' && options.onUnauthorized && unauthorized++ === 0) {
        try {
          await options.onUnauthorized()
        } catch (cause) {
          fail(HoldfastError.from(cause, 'unauthorized'), true)
        }
        fail(error, true)
        delay = 0
        continue
      }
      if (action !== 'retry') {
        readyState = 'closed'
        return fail(error, false)
      }
      if (openedAt !== undefined) unauthorized = 0
      // A stream the server ended cleanly is not an error; it reconnects all the same.
      if (ended.error || ended.status) fail(error, true)
      delay = retry.next(decision)
    }
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
