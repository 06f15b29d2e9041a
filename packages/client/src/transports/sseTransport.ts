import { Endpoint, parseCursorMap, REPLAY_FROM_HEADER, SseEvent } from '@holdfast/protocol'
import { Timer } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import { bufferingDetector } from '../sse/bufferingDetector'
import { disconnectFromStreamEnd } from '../sse/disconnectFromStreamEnd'
import { readEventStream } from '../sse/readEventStream'
import { deliver, httpTransport, parseJson } from './httpTransport'
import type { TransportHost } from './Transport'

export interface SseTransportOptions {
  /** The stream's first event must arrive within this long (ms), or the attempt failed. Defaults to 3000. */
  openTimeoutMs?: number
  /** No bytes (not even heartbeat comments) for this long (ms): the stream is dead. Defaults to 45000. */
  idleTimeoutMs?: number
}

const FRAME_TYPES = new Set<string>(['message', SseEvent.Subscribed, SseEvent.Error, SseEvent.Reconnect])

/**
 * SSE over `fetch` + eventsource-parser rather than the native `EventSource`, so the `Authorization`
 * header can be sent and refreshed, `Last-Event-ID` is ours to set, and the server's `retry:` is a hint
 * for the core's retry policy. The stream counts as open at its first event (the server sends them at
 * once): a proxy that buffers the stream is found within `openTimeoutMs`, not after the idle timeout.
 */
export function sseTransport(options: SseTransportOptions = {}) {
  return (host: TransportHost) => {
    const openTimeoutMs = options.openTimeoutMs ?? 3000
    const idleTimeoutMs = options.idleTimeoutMs ?? 45_000
    return httpTransport(host, 'sse', Endpoint.Sse, async (url, since, headers, signal, open) => {
      if (since) headers['last-event-id'] = since
      let hintMs: number | undefined
      let answered = false
      let opened = false
      const controller = new AbortController()
      const abort = () => controller.abort()
      signal.addEventListener('abort', abort)
      const opening = new Timer(host.timers)
      opening.start(openTimeoutMs, abort)
      const buffering = bufferingDetector(host.now)
      const end = await readEventStream({
        fetch: host.fetch(),
        url: url.toString(),
        headers,
        signal: controller.signal,
        idleTimeoutMs,
        timers: host.timers,
        now: host.now,
        onOpen: (response) => {
          answered = true
          // Where the server starts each channel: the subscription's starting point is fixed now, even if a
          // proxy holds the events back.
          for (const [channel, cursor] of parseCursorMap(response.headers.get(REPLAY_FROM_HEADER)) ?? [])
            host.anchor(channel, cursor)
        },
        onBytes: () => host.activity(),
        onRetry: (ms) => {
          hintMs = ms
        },
        onComment: (comment) => {
          if (buffering(comment))
            host.error(
              new HoldfastError(
                'proxy_buffering',
                'a proxy is buffering the SSE stream (heartbeats arrive late, in bursts); turn buffering off, ' +
                  'e.g. nginx proxy_buffering off (see docs/proxies.md)',
              ),
            )
        },
        onEvent: (event) => {
          if (!opened) {
            opened = true
            opening.cancel()
            open()
          }
          const type = event.event ?? 'message'
          if (!FRAME_TYPES.has(type)) return
          const value = parseJson(event.data)
          // The event name is the frame type; the parsed object is fresh, so it is tagged in place.
          const candidate = (typeof value === 'object' && value !== null ? value : {}) as Record<
            string,
            unknown
          >
          candidate.type = type
          if (type === SseEvent.Subscribed) candidate.id ??= 0
          const frame = deliver(host, candidate, `SSE ${type} event`)
          if (frame?.type === 'reconnect') hintMs = frame.retryAfterMs
        },
      })
      opening.cancel()
      signal.removeEventListener('abort', abort)
      if (signal.aborted) return
      if (end.kind === 'aborted')
        return {
          opened: false,
          error: answered
            ? new HoldfastError(
                'proxy_buffering',
                `the SSE stream opened but its first event did not arrive within ${openTimeoutMs} ms: a proxy is buffering it; turn buffering off (see docs/proxies.md)`,
              )
            : new HoldfastError(
                'timeout',
                `no answer from ${Endpoint.Sse} within ${openTimeoutMs} ms: the server is overloaded, or a proxy holds the response`,
              ),
        }
      return disconnectFromStreamEnd(end, opened, hintMs, idleTimeoutMs)
    })
  }
}
