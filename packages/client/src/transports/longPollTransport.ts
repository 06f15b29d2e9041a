import { Endpoint, type PollResponse, validateServerFrame } from '@holdfast/protocol'
import { Timer } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import { parseRetryAfter } from '../sse/readEventStream'
import { type AttemptResult, HttpTransport } from './HttpTransport'
import { authHeaders, disconnectFromStatus } from './httpHelpers'
import type { SubscriptionRequest, TransportContext } from './Transport'

export interface LongPollTransportOptions {
  /** How long the server may hold a poll. Defaults to 25000. */
  holdMs?: number
}

/**
 * Long polling: `GET /poll` with the cursor map, held by the server until something arrives.
 * Stateless on the server, so any process can answer; the resume cursors live in the client core.
 */
export function longPollTransport(options: LongPollTransportOptions = {}) {
  return (ctx: TransportContext) => new LongPollTransport(ctx, options.holdMs ?? 25_000)
}

class LongPollTransport extends HttpTransport {
  readonly name = 'longpoll' as const

  constructor(
    ctx: TransportContext,
    private readonly holdMs: number,
  ) {
    super(ctx)
  }

  protected async attempt(
    token: string | undefined,
    subscriptions: SubscriptionRequest[],
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    const { url, since } = this.channelRequest(Endpoint.Poll, subscriptions)
    if (since) url.searchParams.set('since', since)
    url.searchParams.set('timeoutMs', String(this.holdMs))
    // A poll that outlives the server's hold by this much went through a black hole.
    const deadline = new Timer(this.ctx.timers)
    const local = new AbortController()
    let timedOut = false
    const onAbort = () => local.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    deadline.start(this.holdMs + 10_000, () => {
      timedOut = true
      local.abort()
    })
    try {
      let response: Response
      let text: string
      try {
        response = await this.ctx.fetch()(url.toString(), {
          headers: { accept: 'application/json', ...authHeaders(token) },
          signal: local.signal,
          cache: 'no-store',
        })
        text = await response.text()
      } catch (error) {
        if (signal.aborted) return this.aborted()
        return {
          opened: this.connected,
          action: 'reconnect',
          error: timedOut
            ? new HoldfastError('timeout', `poll not answered within ${this.holdMs + 10_000} ms`)
            : new HoldfastError('disconnected', 'poll request failed', { cause: error }),
        }
      }
      if (!response.ok) {
        return disconnectFromStatus(
          response.status,
          text,
          parseRetryAfter(response.headers.get('retry-after'), this.ctx.now()),
          this.connected,
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
      this.markOpen()
      this.ctx.activity()
      for (const entry of body.subscribed ?? []) this.forward({ id: 0, ...entry, type: 'subscribed' })
      for (const message of body.messages) this.forward({ ...message, type: 'message' })
      return 'resync'
    } finally {
      deadline.cancel()
      signal.removeEventListener('abort', onAbort)
    }
  }

  private forward(candidate: unknown): void {
    const decoded = validateServerFrame(candidate)
    if (decoded.ok) this.ctx.frame(decoded.frame)
    else this.ctx.error(new HoldfastError('bad_frame', `invalid poll entry: ${decoded.error.message}`))
  }
}
