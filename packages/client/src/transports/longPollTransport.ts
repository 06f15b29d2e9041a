import { Endpoint, type PollResponse } from '@holdfast/protocol'
import { Timer } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import { parseRetryAfter } from '../sse/readEventStream'
import { disconnectFromStatus } from './httpHelpers'
import { deliver, httpTransport } from './httpTransport'
import type { TransportContext } from './Transport'

export interface LongPollTransportOptions {
  /** How long the server may hold a poll. Defaults to 25000. */
  holdMs?: number
}

/**
 * Long polling: `GET /poll` with the cursor map, held by the server until something arrives.
 * Stateless on the server, so any process can answer; the resume cursors live in the client core.
 */
export function longPollTransport(options: LongPollTransportOptions = {}) {
  return (ctx: TransportContext) => {
    const holdMs = options.holdMs ?? 25_000
    // A poll that outlives the server's hold by this much went through a black hole.
    const deadlineMs = holdMs + 10_000
    return httpTransport(
      ctx,
      'longpoll',
      Endpoint.Poll,
      async (url, since, headers, controller, connected, open) => {
        if (since) url.searchParams.set('since', since)
        url.searchParams.set('timeoutMs', String(holdMs))
        headers.accept = 'application/json'
        let timedOut = false
        const deadline = new Timer(ctx.timers)
        deadline.start(deadlineMs, () => {
          timedOut = true
          controller.abort()
        })
        let response: Response
        let text: string
        try {
          response = await ctx.fetch()(url.toString(), {
            headers,
            signal: controller.signal,
            cache: 'no-store',
          })
          text = await response.text()
        } catch (error) {
          if (!timedOut && controller.signal.aborted) return
          return {
            opened: connected,
            action: 'reconnect',
            error: timedOut
              ? new HoldfastError('timeout', `poll not answered within ${deadlineMs} ms`)
              : new HoldfastError('disconnected', 'poll request failed', { cause: error }),
          }
        } finally {
          deadline.cancel()
        }
        if (!response.ok) {
          return disconnectFromStatus(
            response.status,
            text,
            parseRetryAfter(response.headers.get('retry-after'), ctx.now()),
            connected,
          )
        }
        let body: PollResponse
        try {
          body = JSON.parse(text) as PollResponse
          if (!Array.isArray(body.messages)) throw new Error('no messages array')
        } catch (error) {
          return {
            opened: false,
            action: 'reconnect',
            error: new HoldfastError('transport_unavailable', 'poll answer is not a Holdfast poll response', {
              cause: error,
            }),
          }
        }
        open()
        ctx.activity()
        for (const entry of body.subscribed ?? [])
          deliver(ctx, { id: 0, ...entry, type: 'subscribed' }, 'poll entry')
        for (const message of body.messages) deliver(ctx, { ...message, type: 'message' }, 'poll entry')
        return 'resync'
      },
    )
  }
}
