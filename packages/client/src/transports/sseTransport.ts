import { Endpoint, type ServerFrame, SseEvent, validateServerFrame } from '@holdfast/protocol'
import type { EventSourceMessage } from 'eventsource-parser'
import { HoldfastError } from '../HoldfastError'
import { BufferingDetector } from '../sse/BufferingDetector'
import { readEventStream } from '../sse/readEventStream'
import { type AttemptResult, HttpTransport } from './HttpTransport'
import { authHeaders, disconnectFromStatus } from './httpHelpers'
import type { SubscriptionRequest, TransportContext } from './Transport'

export interface SseTransportOptions {
  /** No bytes (not even heartbeat comments) for this long: the stream is dead. Defaults to 45000. */
  idleTimeoutMs?: number
}

/**
 * SSE over `fetch` + eventsource-parser rather than the native `EventSource`, so the
 * `Authorization` header can be sent and refreshed, `Last-Event-ID` is ours to set, and the
 * server's `retry:` becomes a floor under our own jittered backoff.
 */
export function sseTransport(options: SseTransportOptions = {}) {
  return (ctx: TransportContext) => new SseTransport(ctx, options.idleTimeoutMs ?? 45_000)
}

const SSE_FRAME_TYPES = new Set<string>([SseEvent.Subscribed, SseEvent.Error, SseEvent.Reconnect])

class SseTransport extends HttpTransport {
  readonly name = 'sse' as const

  constructor(
    ctx: TransportContext,
    private readonly idleTimeoutMs: number,
  ) {
    super(ctx)
  }

  protected async attempt(
    token: string | undefined,
    subscriptions: SubscriptionRequest[],
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    const { url, since } = this.channelRequest(Endpoint.Sse, subscriptions)
    const headers = authHeaders(token)
    if (since) headers['last-event-id'] = since
    let retryMs = 0
    let hintMs: number | undefined
    let opened = false
    const buffering = new BufferingDetector(this.ctx.now)
    const end = await readEventStream({
      fetch: this.ctx.fetch(),
      url: url.toString(),
      headers,
      signal,
      idleTimeoutMs: this.idleTimeoutMs,
      timers: this.ctx.timers,
      now: this.ctx.now,
      onOpen: () => {
        opened = true
        this.markOpen()
      },
      onBytes: () => this.ctx.activity(),
      onRetry: (ms) => {
        retryMs = ms
      },
      onComment: (comment) => {
        if (buffering.onComment(comment)) {
          this.ctx.error(
            new HoldfastError(
              'proxy_buffering',
              'SSE heartbeats arrive late and in bursts: a proxy is buffering this stream. Disable buffering ' +
                '(nginx: proxy_buffering off, or honour X-Accel-Buffering: no); see docs/proxies.md',
            ),
          )
        }
      },
      onEvent: (event) => {
        const frame = this.toFrame(event)
        if (!frame) return
        if (frame.type === 'reconnect') hintMs = frame.retryAfterMs
        else this.ctx.frame(frame)
      },
    })
    const floor = Math.max(retryMs, hintMs ?? 0) || undefined
    switch (end.kind) {
      case 'aborted':
        return this.aborted()
      case 'ended':
        return {
          opened,
          action: 'reconnect',
          retryAfterMs: floor,
          error: new HoldfastError('disconnected', 'SSE stream ended'),
        }
      case 'idle':
        return {
          opened,
          action: 'reconnect',
          retryAfterMs: floor,
          error: new HoldfastError('timeout', `SSE stream silent for ${this.idleTimeoutMs} ms`),
        }
      case 'network':
        return {
          opened,
          action: 'reconnect',
          retryAfterMs: floor,
          error: new HoldfastError('disconnected', 'SSE connection failed', { cause: end.error }),
        }
      case 'http':
        return disconnectFromStatus(end.status, end.body, end.retryAfterMs, opened)
      case 'not-sse':
        return {
          opened: false,
          action: 'reconnect',
          error: new HoldfastError(
            'transport_unavailable',
            `expected text/event-stream, got "${end.contentType}"`,
          ),
        }
      case 'parse':
        return {
          opened,
          action: 'reconnect',
          error: new HoldfastError('bad_frame', 'SSE event too large', { cause: end.error }),
        }
    }
  }

  private toFrame(event: EventSourceMessage): ServerFrame | undefined {
    let value: unknown
    try {
      value = JSON.parse(event.data)
    } catch {
      this.ctx.error(new HoldfastError('bad_frame', 'SSE event data is not JSON'))
      return undefined
    }
    const type = event.event ?? 'message'
    if (type !== 'message' && !SSE_FRAME_TYPES.has(type)) return undefined
    // The event name is the frame type; the parsed object is fresh, so it is tagged in place (no copy per message).
    const candidate = (
      typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}
    ) as Record<string, unknown>
    candidate.type = type
    if (type === SseEvent.Subscribed) candidate.id ??= 0
    const decoded = validateServerFrame(candidate)
    if (!decoded.ok) {
      this.ctx.error(new HoldfastError('bad_frame', `invalid SSE ${type} event: ${decoded.error.message}`))
      return undefined
    }
    return decoded.frame
  }
}
