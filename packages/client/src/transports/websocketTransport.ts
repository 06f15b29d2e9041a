import {
  type ClientFrame,
  CloseCode,
  closeAction,
  decodeServerFrame,
  Endpoint,
  encodeFrame,
  PROTOCOL_VERSION,
  parseRetryAfterReason,
  type ServerFrame,
} from '@holdfast/protocol'
import ReconnectingWebSocket from 'reconnecting-websocket'
import type { PublishResult } from '../core/publishQueue'
import { Timer } from '../core/timers'
import { type ErrorCode, HoldfastError } from '../HoldfastError'
import { endpointUrl } from './endpointUrl'
import type { Transport, TransportContext } from './Transport'

export interface WebSocketTransportOptions {
  /** No welcome within this long counts as a failed attempt. Defaults to 2500. */
  openTimeoutMs?: number
}

interface PendingRequest {
  resolve(frame: ServerFrame): void
  reject(error: HoldfastError): void
}

/**
 * WebSocket transport on reconnecting-websocket. rws owns the socket swaps; every delay is ours:
 * its own delays are zeroed and its URL provider waits for `ctx.waitToConnect()`, which applies
 * the client's jittered backoff and server hints. rws never sees a rejected URL provider (that
 * would wedge its connect lock), and its message queue is off: publishes wait in the client's
 * bounded queue instead, so nothing is lost when the socket is replaced.
 */
export function websocketTransport(options: WebSocketTransportOptions = {}) {
  const openTimeoutMs = options.openTimeoutMs ?? 2500
  return (ctx: TransportContext): Transport => new WebSocketTransport(ctx, openTimeoutMs)
}

/** Close codes that mean something to the user: error code, message, and whether the server's reason is the better message. */
const CLOSE_ERRORS: Record<number, [ErrorCode, string, boolean?]> = {
  [CloseCode.Forbidden]: ['forbidden', 'server refused the connection', true],
  [CloseCode.ProtocolError]: ['bad_frame', 'protocol error', true],
  [CloseCode.TokenExpired]: ['token_expired', 'token expired'],
  [CloseCode.Unauthorized]: ['unauthorized', 'token rejected', true],
  [CloseCode.SlowConsumer]: ['slow_consumer', 'server dropped a slow consumer'],
  [CloseCode.RateLimited]: ['rate_limited', 'server is rate limiting connections'],
  [CloseCode.ServerRestart]: ['server_restart', 'server is restarting'],
}

class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const
  readonly publishConcurrency = Number.POSITIVE_INFINITY
  #rws: ReconnectingWebSocket | undefined
  #stopped = false
  #welcomed = false
  #token: string | undefined
  #nextId = 1
  readonly #pending = new Map<number, PendingRequest>()
  /** Channel -> subscribe request id in flight or done on this socket. */
  readonly #subscribed = new Map<string, number>()
  /** Subscribe request id -> channel, to attach the channel to a refusal. */
  readonly #subscribeRequests = new Map<number, string>()
  #retryAfterHint: number | undefined
  readonly #openTimer: Timer

  readonly #ctx: TransportContext
  readonly #openTimeoutMs: number

  constructor(ctx: TransportContext, openTimeoutMs: number) {
    this.#ctx = ctx
    this.#openTimeoutMs = openTimeoutMs
    this.#openTimer = new Timer(ctx.timers)
  }

  start(): void {
    const url = endpointUrl(this.#ctx.baseUrl, Endpoint.WebSocket, 'ws')
    this.#rws = new ReconnectingWebSocket(() => this.#nextUrl(url), PROTOCOL_VERSION, {
      WebSocket: this.#ctx.webSocket(),
      minReconnectionDelay: 0,
      maxReconnectionDelay: 0,
      reconnectionDelayGrowFactor: 1,
      // Our open timer decides; rws's own is a backstop only.
      connectionTimeout: this.#openTimeoutMs + 5000,
      maxRetries: Number.POSITIVE_INFINITY,
      maxEnqueuedMessages: 0,
    })
    this.#rws.addEventListener('open', () => this.#onOpen())
    this.#rws.addEventListener('message', (event) => this.#onMessage(event.data))
    this.#rws.addEventListener('close', (event) => this.#onClose(event.code, event.reason))
  }

  async #nextUrl(url: string): Promise<string> {
    // Loop instead of rejecting: a rejected provider leaves rws unable to ever connect again.
    for (;;) {
      if (this.#stopped || !(await this.#ctx.waitToConnect()) || this.#stopped) return url
      try {
        this.#token = await this.#ctx.getToken()
      } catch (error) {
        const err = HoldfastError.from(error, 'unauthorized')
        this.#ctx.closed({
          opened: false,
          action: err.code === 'forbidden' ? 'stop' : 'reconnect',
          error: err,
        })
        continue
      }
      if (this.#stopped) return url
      this.#welcomed = false
      this.#retryAfterHint = undefined
      this.#subscribed.clear()
      this.#openTimer.start(this.#openTimeoutMs, () => {
        this.#ctx.debug('websocket: no welcome in time')
        this.#rws?.reconnect(CloseCode.HandshakeTimeout, 'open timeout')
      })
      return url
    }
  }

  #onOpen(): void {
    const frame: ClientFrame = this.#token ? { type: 'connect', token: this.#token } : { type: 'connect' }
    this.#send(frame)
  }

  #onMessage(raw: unknown): void {
    if (this.#stopped) return
    this.#ctx.activity()
    const decoded = decodeServerFrame(raw)
    if (!decoded.ok) {
      this.#ctx.error(
        new HoldfastError('bad_frame', `server sent an invalid frame: ${decoded.error.message}`),
      )
      return
    }
    const frame = decoded.frame
    switch (frame.type) {
      case 'welcome':
        this.#openTimer.cancel()
        this.#welcomed = true
        this.#ctx.opened(frame)
        this.syncSubscriptions()
        return
      case 'ping':
        this.#send({ type: 'pong' })
        return
      case 'pong':
        return
      case 'reconnect':
        this.#retryAfterHint = frame.retryAfterMs
        return
      case 'ack':
      case 'unsubscribed':
        this.#settle(frame.id, frame)
        return
      case 'subscribed':
        this.#settle(frame.id, frame)
        this.#ctx.frame(frame)
        return
      case 'error': {
        const request = frame.id === undefined ? undefined : this.#pending.get(frame.id)
        if (!request) {
          this.#ctx.frame(frame)
          return
        }
        this.#pending.delete(frame.id!)
        request.reject(new HoldfastError(frame.code, frame.message, { retryAfterMs: frame.retryAfterMs }))
        // A refused subscribe concerns its channel; a refused publish is reported by its own promise.
        const channel = this.#subscribeRequests.get(frame.id!)
        if (channel !== undefined) this.#ctx.frame({ ...frame, channel: frame.channel ?? channel })
        return
      }
      default:
        this.#ctx.frame(frame)
    }
  }

  #onClose(code: number, reason: string): void {
    this.#openTimer.cancel()
    const opened = this.#welcomed
    this.#welcomed = false
    this.#subscribed.clear()
    this.#subscribeRequests.clear()
    this.#rejectPending('connection closed before the server answered')
    if (this.#stopped) return
    const retryAfterMs = this.#retryAfterHint ?? parseRetryAfterReason(reason ?? '')
    this.#retryAfterHint = undefined
    const action = closeAction(code)
    const known = CLOSE_ERRORS[code]
    const error = known
      ? new HoldfastError(known[0], (known[2] && reason) || known[1], { retryAfterMs })
      : opened
        ? new HoldfastError('disconnected', `websocket closed (${code})`)
        : new HoldfastError('transport_unavailable', 'websocket could not connect')
    this.#ctx.closed({ opened, action, code, reason, retryAfterMs, error })
    if (action === 'stop') this.#rws?.close()
  }

  #rejectPending(message: string): void {
    for (const request of this.#pending.values()) request.reject(new HoldfastError('disconnected', message))
    this.#pending.clear()
  }

  #settle(id: number, frame: ServerFrame): void {
    const request = this.#pending.get(id)
    if (request) {
      this.#pending.delete(id)
      request.resolve(frame)
    }
  }

  #send(frame: ClientFrame): boolean {
    const ws = this.#rws
    if (ws?.readyState !== 1) return false
    ws.send(encodeFrame(frame))
    return true
  }

  #request(frame: ClientFrame & { id: number }): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      if (!this.#welcomed || !this.#send(frame)) {
        reject(new HoldfastError('not_connected', 'websocket is not connected'))
        return
      }
      this.#pending.set(frame.id, { resolve, reject })
    })
  }

  syncSubscriptions(): void {
    if (!this.#welcomed) return
    const wanted = this.#ctx.subscriptions()
    const wantedNames = new Set(wanted.map((s) => s.channel))
    for (const sub of wanted) {
      if (this.#subscribed.has(sub.channel)) continue
      const id = this.#nextId++
      this.#subscribed.set(sub.channel, id)
      this.#subscribeRequests.set(id, sub.channel)
      const frame: ClientFrame = { type: 'subscribe', id, channel: sub.channel }
      if (sub.since) frame.since = sub.since
      // A refusal reaches the core as a channel error frame (see onMessage); the promise only tracks the reply.
      this.#request(frame)
        .catch(() => {})
        .finally(() => this.#subscribeRequests.delete(id))
    }
    for (const channel of [...this.#subscribed.keys()]) {
      if (wantedNames.has(channel)) continue
      this.#subscribed.delete(channel)
      this.#request({ type: 'unsubscribe', id: this.#nextId++, channel }).catch(() => {})
    }
  }

  async publish(request: { channel: string; data: unknown; key: string }): Promise<PublishResult> {
    const frame = await this.#request({
      type: 'publish',
      id: this.#nextId++,
      channel: request.channel,
      data: request.data,
      key: request.key,
    })
    if (frame.type !== 'ack' || !frame.cursor) {
      throw new HoldfastError('bad_frame', 'server answered a publish without a cursor')
    }
    return { cursor: frame.cursor, duplicate: frame.duplicate === true }
  }

  refreshToken(token: string): void {
    this.#token = token
    if (!this.#welcomed) return
    this.#request({ type: 'auth', id: this.#nextId++, token }).catch((error: unknown) => {
      const err = HoldfastError.from(error)
      if (err.code === 'disconnected' || err.code === 'not_connected') return
      this.#ctx.error(err)
      // The server did not take the new token in place; reconnect with a fresh one.
      this.reconnect(CloseCode.TokenExpired, 'token refresh refused')
    })
  }

  ping(): void {
    this.#send({ type: 'ping' })
  }

  reconnect(code: number = CloseCode.Normal, reason = 'reconnect'): void {
    if (this.#stopped) return
    this.#rws?.reconnect(code, reason)
  }

  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#openTimer.cancel()
    this.#rws?.close(CloseCode.Normal, 'client closed')
    this.#rejectPending('transport stopped')
  }
}
