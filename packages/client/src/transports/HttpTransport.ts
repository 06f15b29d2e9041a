import { Endpoint, formatCursorMap } from '@holdfast/protocol'
import type { PublishResult } from '../core/publishQueue'
import { HoldfastError } from '../HoldfastError'
import { endpointUrl } from './endpointUrl'
import { authHeaders, postPublish, whenAborted } from './httpHelpers'
import type {
  DisconnectInfo,
  SubscriptionRequest,
  Transport,
  TransportContext,
  TransportName,
} from './Transport'

/** `resync`: go round again at once, without a backoff wait (new channel set, new token, next poll). */
export type AttemptResult = DisconnectInfo | 'resync'

type AbortReason = 'resync' | 'reconnect' | 'stop'

/**
 * The connection loop shared by the one-way HTTP transports (SSE, long polling). Subclasses make
 * one attempt at a time; this class owns waiting (through the core's backoff), tokens, publishing
 * over `POST /publish`, and reopening when the channel set or the token changes.
 */
export abstract class HttpTransport implements Transport {
  abstract readonly name: TransportName
  readonly publishConcurrency = 1
  protected stopped = false
  /** Whether the core has been told this transport is connected. */
  protected connected = false
  private controller: AbortController | undefined
  private abortReason: AbortReason | undefined

  constructor(protected readonly ctx: TransportContext) {}

  start(): void {
    void this.run()
  }

  stop(): void {
    this.stopped = true
    this.abort('stop')
  }

  syncSubscriptions(): void {
    this.abort('resync')
  }

  refreshToken(_token: string): void {
    this.abort('resync')
  }

  reconnect(): void {
    this.abort('reconnect')
  }

  publish(request: { channel: string; data: unknown; key: string }): Promise<PublishResult> {
    if (!this.connected)
      return Promise.reject(new HoldfastError('not_connected', `${this.name} is not connected`))
    return postPublish(this.ctx, request)
  }

  protected abstract attempt(
    token: string | undefined,
    subscriptions: SubscriptionRequest[],
    signal: AbortSignal,
  ): Promise<AttemptResult>

  /** `<base><path>?channel=a&channel=b` plus the cursor map of the channels that have a resume point. */
  protected channelRequest(
    path: string,
    subscriptions: SubscriptionRequest[],
  ): { url: URL; since: string | undefined } {
    const url = new URL(endpointUrl(this.ctx.baseUrl, path))
    const since = new Map<string, string>()
    for (const sub of subscriptions) {
      url.searchParams.append('channel', sub.channel)
      if (sub.since) since.set(sub.channel, sub.since)
    }
    return { url, since: since.size > 0 ? formatCursorMap(since) : undefined }
  }

  /** Marks the transport connected (once per connection) and tells the core. */
  protected markOpen(): void {
    if (this.connected) return
    this.connected = true
    this.ctx.opened()
  }

  /** What an aborted attempt means: the caller's reason, or a plain reconnect. */
  protected aborted(): AttemptResult {
    if (this.abortReason === 'resync') return 'resync'
    return { opened: this.connected, action: 'reconnect' }
  }

  private abort(reason: AbortReason): void {
    // 'stop' and 'reconnect' outrank 'resync' if both arrive before the loop wakes.
    if (this.abortReason === undefined || reason !== 'resync') this.abortReason = reason
    this.controller?.abort()
  }

  private async run(): Promise<void> {
    let skipWait = false
    while (!this.stopped) {
      if (!skipWait && !(await this.ctx.waitToConnect())) return
      skipWait = false
      if (this.stopped) return
      this.abortReason = undefined
      const controller = new AbortController()
      this.controller = controller
      let token: string | undefined
      try {
        token = await this.ctx.getToken()
      } catch (error) {
        const err = HoldfastError.from(error, 'unauthorized')
        this.report({
          opened: this.connected,
          action: err.code === 'forbidden' ? 'stop' : 'reconnect',
          error: err,
        })
        continue
      }
      if (this.stopped) return
      const subscriptions = this.ctx.subscriptions()
      let result: AttemptResult
      try {
        result =
          subscriptions.length === 0
            ? await this.idle(token, controller.signal)
            : await this.attempt(token, subscriptions, controller.signal)
      } catch (error) {
        result = {
          opened: this.connected,
          action: 'reconnect',
          error: HoldfastError.from(error, 'disconnected'),
        }
      }
      if (this.stopped) return
      if (result === 'resync') {
        skipWait = true
        continue
      }
      this.report(result)
    }
  }

  private report(info: DisconnectInfo): void {
    this.connected = false
    this.ctx.closed(info)
  }

  /** No channels: check the server answers (so publishing works), then wait for something to do. */
  private async idle(token: string | undefined, signal: AbortSignal): Promise<AttemptResult> {
    if (!this.connected) {
      try {
        const response = await this.ctx.fetch()(endpointUrl(this.ctx.baseUrl, Endpoint.Health), {
          headers: authHeaders(token),
          signal,
        })
        void response.body?.cancel().catch(() => {})
        if (!response.ok) {
          return {
            opened: false,
            action: 'reconnect',
            error: new HoldfastError('transport_unavailable', `health check answered ${response.status}`),
          }
        }
      } catch (error) {
        if (signal.aborted) return this.aborted()
        return {
          opened: false,
          action: 'reconnect',
          error: new HoldfastError('disconnected', 'server unreachable', { cause: error }),
        }
      }
      this.markOpen()
    }
    await whenAborted(signal)
    return this.aborted()
  }
}
