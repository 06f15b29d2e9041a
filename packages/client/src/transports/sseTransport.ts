import { Endpoint, SseEvent } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import { bufferingDetector } from '../sse/bufferingDetector'
import { readEventStream } from '../sse/readEventStream'
import { disconnectFromStatus } from './httpHelpers'
import { deliver, httpTransport } from './httpTransport'
import type { TransportContext } from './Transport'

export interface SseTransportOptions {
  /** No bytes (not even heartbeat comments) for this long: the stream is dead. Defaults to 45000. */
  idleTimeoutMs?: number
}

const SSE_FRAME_TYPES = new Set<string>(['message', SseEvent.Subscribed, SseEvent.Error, SseEvent.Reconnect])

/**
 * SSE over `fetch` + eventsource-parser rather than the native `EventSource`, so the
 * `Authorization` header can be sent and refreshed, `Last-Event-ID` is ours to set, and the
 * server's `retry:` becomes a floor under our own jittered backoff.
 */
export function sseTransport(options: SseTransportOptions = {}) {
  return (ctx: TransportContext) => {
    const idleTimeoutMs = options.idleTimeoutMs ?? 45_000
    return httpTransport(
      ctx,
      'sse',
      Endpoint.Sse,
      async (url, since, headers, controller, _connected, open) => {
        if (since) headers['last-event-id'] = since
        let retryMs = 0
        let hintMs = 0
        let opened = false
        const buffering = bufferingDetector(ctx.now)
        const end = await readEventStream({
          fetch: ctx.fetch(),
          url: url.toString(),
          headers,
          signal: controller.signal,
          idleTimeoutMs,
          timers: ctx.timers,
          now: ctx.now,
          onOpen: () => {
            opened = true
            open()
          },
          onBytes: () => ctx.activity(),
          onRetry: (ms) => {
            retryMs = ms
          },
          onComment: (comment) => {
            if (buffering(comment)) {
              ctx.error(
                new HoldfastError(
                  'proxy_buffering',
                  'a proxy is buffering the SSE stream (heartbeats arrive late, in bursts); turn buffering off, ' +
                    'e.g. nginx proxy_buffering off (see docs/proxies.md)',
                ),
              )
            }
          },
          onEvent: (event) => {
            let value: unknown
            try {
              value = JSON.parse(event.data)
            } catch {
              ctx.error(new HoldfastError('bad_frame', 'SSE event data is not JSON'))
              return
            }
            const type = event.event ?? 'message'
            if (!SSE_FRAME_TYPES.has(type)) return
            // The event name is the frame type; the parsed object is fresh, so it is tagged in place (no copy per message).
            const candidate = (
              typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}
            ) as Record<string, unknown>
            candidate.type = type
            if (type === SseEvent.Subscribed) candidate.id ??= 0
            const frame = deliver(ctx, candidate, `SSE ${type} event`)
            if (frame?.type === 'reconnect') hintMs = frame.retryAfterMs
          },
        })
        if (end.kind === 'aborted') return
        if (end.kind === 'http') return disconnectFromStatus(end.status, end.body, end.retryAfterMs, opened)
        if (end.kind === 'not-sse') {
          return {
            opened: false,
            action: 'reconnect',
            error: new HoldfastError(
              'transport_unavailable',
              `expected text/event-stream, got "${end.contentType}"`,
            ),
          }
        }
        if (end.kind === 'parse') {
          return {
            opened,
            action: 'reconnect',
            error: new HoldfastError('bad_frame', 'SSE event too large', { cause: end.error }),
          }
        }
        return {
          opened,
          action: 'reconnect',
          retryAfterMs: Math.max(retryMs, hintMs) || undefined,
          error:
            end.kind === 'idle'
              ? new HoldfastError('timeout', `SSE stream silent for ${idleTimeoutMs} ms`)
              : end.kind === 'ended'
                ? new HoldfastError('disconnected', 'SSE stream ended')
                : new HoldfastError('disconnected', 'SSE connection failed', { cause: end.error }),
        }
      },
    )
  }
}
