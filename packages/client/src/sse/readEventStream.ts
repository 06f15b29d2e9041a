import { isErrorCode } from '@holdfast/protocol'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { Timer, type Timers } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import type { FetchFunction } from '../transports/Transport'

export interface ReadEventStreamParams {
  fetch: FetchFunction
  url: string
  headers: Record<string, string>
  signal: AbortSignal
  /** No bytes at all (not even comments) for this long means the stream is dead. */
  idleTimeoutMs: number
  timers: Timers
  now(): number
  maxBufferBytes?: number
  onOpen(response: Response): void
  onEvent(event: EventSourceMessage): void
  /**
   * A block ended that had an `id` field (`''` resets it): the last event id is now `id`, even when the block had
   * no `data` and so no event (WHATWG dispatch step 1). Called before `onEvent`. Defaults to none.
   */
  onLastEventId?(id: string): void
  onRetry(ms: number): void
  onComment?(comment: string): void
  onBytes?(): void
}

/** How one SSE connection ended. */
export type StreamEnd =
  | { kind: 'aborted' }
  | { kind: 'ended' }
  | { kind: 'idle' }
  | { kind: 'network'; error: unknown }
  | { kind: 'http'; status: number; retryAfterMs: number | undefined; body: string }
  | { kind: 'not-sse'; contentType: string }
  | { kind: 'parse'; error: unknown }

/**
 * Opens one SSE response with `fetch` and reads it with eventsource-parser until it ends, by the WHATWG rules for
 * interpreting an event stream (test/unit/readEventStream.test.ts pins each).
 */
export async function readEventStream(params: ReadEventStreamParams): Promise<StreamEnd> {
  const idle = new Timer(params.timers)
  const controller = new AbortController()
  const abort = () => controller.abort()
  if (params.signal.aborted) return { kind: 'aborted' }
  params.signal.addEventListener('abort', abort, { once: true })
  let idleFired = false
  let lastByteAt = params.now()
  const armIdle = (ms: number) =>
    idle.start(ms, () => {
      const silent = params.now() - lastByteAt
      if (silent < params.idleTimeoutMs) {
        armIdle(params.idleTimeoutMs - silent)
        return
      }
      idleFired = true
      controller.abort()
    })
  try {
    armIdle(params.idleTimeoutMs)
    let response: Response
    try {
      response = await params.fetch(params.url, {
        method: 'GET',
        headers: { accept: 'text/event-stream', ...params.headers },
        signal: controller.signal,
        cache: 'no-store',
      })
    } catch (error) {
      return ended(params.signal, idleFired, { kind: 'network', error })
    }
    if (!response.ok) {
      const body = await response.text().catch(() => '')
      return {
        kind: 'http',
        status: response.status,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), params.now()),
        body,
      }
    }
    const contentType = response.headers.get('content-type') ?? ''
    if (!contentType.toLowerCase().startsWith('text/event-stream') || !response.body) {
      void response.body?.cancel().catch(() => {})
      return { kind: 'not-sse', contentType }
    }
    lastByteAt = params.now()
    params.onOpen(response)
    let parseError: unknown
    const parser = createParser({
      // Each block reaches the parser ending in an added empty `data` line (see the read loop), so it dispatches every
      // block and `data` is the spec's data buffer, each data line followed by LF. Empty: the block had no data field,
      // which moves the last event id but dispatches no event (WHATWG "dispatch the event", steps 1 to 3).
      onEvent: (event) => {
        if (event.id !== undefined) params.onLastEventId?.(event.id)
        if (event.data) params.onEvent({ ...event, data: event.data.slice(0, -1) })
      },
      onRetry: params.onRetry,
      onComment: params.onComment,
      onError: (error) => {
        // Unknown fields are legal SSE and ignored; an oversized event is not survivable.
        if ((error as { type?: string }).type === 'max-buffer-size-exceeded') {
          parseError = error
          controller.abort()
        }
      },
      maxBufferSize: params.maxBufferBytes ?? 1024 * 1024,
    })
    // TextDecoder in streaming mode joins multi-byte characters split across chunks and drops one leading BOM. The
    // parser would also strip a BOM left as UTF-8 bytes ("ï»¿", not a BOM once decoded) from its first chunk: spend
    // that chunk on nothing.
    const decoder = new TextDecoder()
    parser.feed('')
    let last = '\n'
    const reader = response.body.getReader()
    // Not every fetch propagates an abort into a body already being read; cancel the reader as well.
    const cancelReader = () => void reader.cancel().catch(() => {})
    controller.signal.addEventListener('abort', cancelReader, { once: true })
    try {
      for (;;) {
        const { value, done } = await reader.read()
        // Whatever the parser still holds is an unfinished line or block: the spec discards it.
        if (done) break
        lastByteAt = params.now()
        params.onBytes?.()
        const text = decoder.decode(value, { stream: true })
        // Line ends become LF before the parser sees them: it holds a trailing CR until the next chunk in case an LF
        // follows (for ever at the end of the stream), so `data: x\r\r` would wait. `last`, the previous chunk's last
        // character (LF at the start), makes a CRLF split between chunks one line end. Before every blank line goes an
        // empty `data` line (see onEvent).
        parser.feed(
          (last + text)
            .replace(/\r\n?/g, '\n')
            .replace(/\n(?=\n)/g, '\ndata\n')
            .slice(1),
        )
        last = text.slice(-1) || last
      }
    } catch (error) {
      if (parseError) return { kind: 'parse', error: parseError }
      return ended(params.signal, idleFired, { kind: 'network', error })
    }
    if (parseError) return { kind: 'parse', error: parseError }
    return ended(params.signal, idleFired, { kind: 'ended' })
  } finally {
    idle.cancel()
    params.signal.removeEventListener('abort', abort)
  }
}

function ended(signal: AbortSignal, idleFired: boolean, otherwise: StreamEnd): StreamEnd {
  if (signal.aborted) return { kind: 'aborted' }
  if (idleFired) return { kind: 'idle' }
  return otherwise
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Turns an error body `{"error":{"code","message"}}` (or anything else) into a `HoldfastError`. */
export function errorFromBody(status: number, body: string, retryAfterMs?: number): HoldfastError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }
    const code = parsed.error?.code
    const message = parsed.error?.message
    if (typeof message === 'string') {
      return new HoldfastError(isErrorCode(code) ? code : statusCode(status), message, { retryAfterMs })
    }
  } catch {
    // not JSON: fall through
  }
  return new HoldfastError(statusCode(status), `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`, {
    retryAfterMs,
  })
}

function statusCode(status: number) {
  if (status === 401) return 'unauthorized' as const
  if (status === 403) return 'forbidden' as const
  if (status === 413) return 'message_too_large' as const
  if (status === 429) return 'rate_limited' as const
  if (status === 503) return 'server_restart' as const
  if (status >= 500) return 'internal' as const
  return 'bad_request' as const
}
