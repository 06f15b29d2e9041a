import { Endpoint, REPLAY_FROM_HEADER, SseEvent } from '@holdfast/protocol'
import { readEventStream } from '../sse/readEventStream'
import { deliver, httpTransport, parseJson } from './httpTransport'
import type { TransportHost } from './Transport'

export interface SseTransportOptions {
  /** The stream's first event must arrive within this long (ms), or the attempt failed. Defaults to 3000. */
  openTimeoutMs?: number
  /** No bytes (not even heartbeat comments) for this long (ms): the stream is dead. Defaults to 45000. */
  idleTimeoutMs?: number
}

const FRAME_TYPES = [SseEvent.Subscribed, SseEvent.Error, SseEvent.Reconnect]

/**
 * SSE over `fetch` + eventsource-parser rather than the native `EventSource`, so the `Authorization`
 * header can be sent and refreshed, `Last-Event-ID` is ours to set, and the server's `retry:` is a hint
 * for the core's retry policy. The stream counts as open at its first event (the server sends them at
 * once): a proxy that buffers the stream is found within `openTimeoutMs`, not after the idle timeout.
 */
export function sseTransport(options: SseTransportOptions = {}) {
  return (host: TransportHost) => {
    return httpTransport(host, 'sse', Endpoint.Sse, async (url, since, headers, signal, open) => {
      if (since) headers['last-event-id'] = since
      let hintMs: number | undefined
      let opened = false
      const ended = await readEventStream({
        fetch: host.fetch(),
        url: `${url}`,
        headers,
        signal,
        idleTimeoutMs: options.idleTimeoutMs ?? 45_000,
        openTimeoutMs: options.openTimeoutMs ?? 3000,
        timers: host.timers,
        now: host.now,
        onOpen: (response) => {
          // Where the server starts each channel (a cursor map): the subscription's starting point is fixed now,
          // even if a proxy holds the events back. The registry ignores what is not a cursor.
          for (const pair of response.headers.get(REPLAY_FROM_HEADER)?.split(',') ?? [])
            host.anchor(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1))
        },
        onBytes: host.activity,
        onRetry: (ms) => {
          hintMs = ms
        },
        onEvent: (event) => {
          if (!opened) {
            opened = true
            open()
          }
          const type = event.event ?? 'message'
          if (type !== 'message' && !FRAME_TYPES.includes(type as never)) return
          const value = parseJson(event.data)
          // The event name is the frame type; the parsed object is fresh, so it is tagged in place.
          const frame = (value !== null && typeof value === 'object' ? value : {}) as Record<string, unknown>
          frame.type = type
          frame.id ??= 0
          if (deliver(host, frame, `SSE ${type} event`)?.type === 'reconnect')
            hintMs = frame.retryAfterMs as number
        },
      })
      return ended && { ...ended, opened, hintMs: ended.hintMs ?? hintMs }
    })
  }
}
