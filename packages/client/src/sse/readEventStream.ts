import { parseRetryAfter } from '@holdfast/protocol'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import type { Disconnect } from '../core/classifyDisconnect'
import { Timer, type Timers } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import type { FetchFunction } from '../transports/Transport'

const PROXIES = ' (see docs/proxies.md)'

export interface ReadEventStreamParams {
  fetch: FetchFunction
  url: string
  headers: Record<string, string>
  signal: AbortSignal
  /** No bytes at all (not even comments) for this long means the stream is dead. */
  idleTimeoutMs: number
  /**
   * The first event must arrive within this long (ms), or the attempt failed: a proxy that holds the
   * response, or buffers the stream, is found at once rather than after the idle timeout. Defaults to none.
   */
  openTimeoutMs?: number
  timers: Timers
  now(): number
  maxBufferBytes?: number
  /** The response is a stream: its headers arrived. */
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

/**
 * Opens one SSE response with `fetch` and reads it with eventsource-parser until it ends, by the WHATWG rules for
 * interpreting an event stream (test/unit/readEventStream.test.ts pins each). Resolves with the facts of how it
 * ended, for the disconnect classifier (`opened`: the headers arrived), or `undefined` when `signal` aborted it.
 */
export async function readEventStream(params: ReadEventStreamParams): Promise<Disconnect | undefined> {
  const { signal, now, idleTimeoutMs, openTimeoutMs } = params
  const idle = new Timer(params.timers)
  const opening = new Timer(params.timers)
  const controller = new AbortController()
  const abort = () => controller.abort()
  signal.addEventListener('abort', abort)
  let opened = false
  /** Why we cut the stream ourselves (silent, no first event, an event too large). */
  let failure: HoldfastError | undefined
  const fail = (error: HoldfastError) => {
    failure ??= error
    abort()
  }
  let lastByteAt = now()
  const armIdle = (ms: number): void =>
    idle.start(ms, () => {
      const silent = now() - lastByteAt
      if (silent < idleTimeoutMs) armIdle(idleTimeoutMs - silent)
      else
        fail(
          new HoldfastError(
            'timeout',
            `SSE stream silent for ${idleTimeoutMs} ms: dead, or buffered by a proxy${PROXIES}`,
          ),
        )
    })
  const end = (error?: HoldfastError): Disconnect | undefined =>
    signal.aborted ? undefined : { opened, error: failure ?? error }
  if (openTimeoutMs)
    opening.start(openTimeoutMs, () =>
      fail(
        opened
          ? new HoldfastError(
              'proxy_buffering',
              `the SSE stream's first event did not arrive within ${openTimeoutMs} ms: a proxy buffers it; turn buffering off${PROXIES}`,
            )
          : new HoldfastError(
              'timeout',
              `no answer from the SSE endpoint within ${openTimeoutMs} ms: the server is overloaded, or a proxy holds it`,
            ),
      ),
    )
  try {
    if (signal.aborted) return
    armIdle(idleTimeoutMs)
    let response: Response
    try {
      response = await params.fetch(params.url, {
        headers: { accept: 'text/event-stream', ...params.headers },
        signal: controller.signal,
        cache: 'no-store',
      })
    } catch (cause) {
      return end(new HoldfastError('disconnected', 'SSE connection failed', { cause }))
    }
    if (!response.ok)
      return {
        opened,
        status: response.status,
        reason: await response.text().catch(() => ''),
        hintMs: parseRetryAfter(response.headers.get('retry-after'), now()),
      }
    const contentType = response.headers.get('content-type') ?? ''
    if (!/^text\/event-stream/i.test(contentType) || !response.body) {
      void response.body?.cancel().catch(() => {})
      return {
        opened,
        error: new HoldfastError(
          'transport_unavailable',
          `expected text/event-stream, got "${contentType}": a proxy or the wrong URL answered`,
        ),
      }
    }
    opened = true
    lastByteAt = now()
    params.onOpen(response)
    const parser = createParser({
      // Each block reaches the parser ending in an added empty `data` line (see the read loop), so it dispatches every
      // block and `data` is the spec's data buffer, each data line followed by LF. Empty: the block had no data field,
      // which moves the last event id but dispatches no event (WHATWG "dispatch the event", steps 1 to 3).
      onEvent: (event) => {
        if (event.id !== undefined) params.onLastEventId?.(event.id)
        if (event.data) {
          opening.cancel()
          params.onEvent({ ...event, data: event.data.slice(0, -1) })
        }
      },
      onRetry: params.onRetry,
      onComment: params.onComment,
      onError: (error) => {
        // Unknown fields are legal SSE and ignored; an oversized event is not survivable.
        if ((error as { type?: string }).type === 'max-buffer-size-exceeded') {
          failure = new HoldfastError('bad_frame', 'SSE event larger than the parser buffer', {
            cause: error,
          })
          abort()
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
    controller.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}))
    try {
      for (;;) {
        const { value, done } = await reader.read()
        // Whatever the parser still holds is an unfinished line or block: the spec discards it.
        if (done) return end()
        lastByteAt = now()
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
    } catch (cause) {
      return end(new HoldfastError('disconnected', 'SSE connection failed', { cause }))
    }
  } finally {
    idle.cancel()
    opening.cancel()
    signal.removeEventListener('abort', abort)
  }
}
