import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  type ClientFrame,
  CloseCode,
  decodeClientFrame,
  type ErrorCode,
  formatRetryAfterReason,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@holdfast/protocol'
import { type RawData, type WebSocket, WebSocketServer } from 'ws'
import type { AuthUser } from '../auth/createAuthenticator'
import { MAX_TIMER_DELAY_MS, type TimerHandle, unrefTimer } from '../Clock'
import { ChannelFeed, type FeedFailure, type FeedSink } from '../delivery/ChannelFeed'
import { SendGate } from '../delivery/SendGate'
import { HoldfastServerError } from '../HoldfastServerError'
import { isOriginAllowed } from '../http/originPolicy'
import { rejectUpgrade } from '../http/upgradeResponse'
import { errorFields } from '../Logger'
import type { ServerContext } from '../ServerContext'

export interface WebSocketHandler {
  /** Takes over an HTTP upgrade request for the WebSocket endpoint. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  /** Stops the liveness timer; connections are closed through the registry. */
  close(): void
}

// Frames waiting behind a slow `authorize` hook. Past this the socket stops being read, so a flooding
// client is held back by TCP instead of by server memory.
const PAUSE_AT_QUEUED_FRAMES = 64
const RESUME_AT_QUEUED_FRAMES = 8
// How long a closing handshake may take before the socket is cut (a slow consumer never reads its close).
const CLOSE_TIMEOUT_MS = 5000

export function createWebSocketHandler(ctx: ServerContext): WebSocketHandler {
  const { options } = ctx
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // `ws` closes with 1009 above this on its own; between the limit and twice the limit we answer
    // `message_too_large` and keep the connection.
    maxPayload: options.maxMessageBytes * 2,
    clientTracking: false,
    // Known to ws 8.19+, not yet to @types/ws.
    ...({ closeTimeout: CLOSE_TIMEOUT_MS } as object),
    handleProtocols: (protocols) => (protocols.has(PROTOCOL_VERSION) ? PROTOCOL_VERSION : false),
  })
  const live = new Set<WebSocketConnection>()

  // One timer for all sockets: each round, a socket that did not answer the previous ping is cut.
  let pingTimer: TimerHandle | undefined
  const schedulePing = () => {
    pingTimer = ctx.clock.setTimeout(() => {
      for (const connection of live) connection.heartbeat()
      schedulePing()
    }, options.pingIntervalMs)
    // The HTTP server keeps the process alive; this timer alone must not.
    unrefTimer(pingTimer)
  }
  schedulePing()

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', (error) => ctx.logger.debug(errorFields(error), '[holdfast] upgrade socket error'))
      if (ctx.isDraining()) {
        rejectUpgrade(socket, 503, 'server_restart', 'the server is shutting down; reconnect shortly', {
          'Retry-After': '1',
        })
        return
      }
      if (!isOriginAllowed(req, options.allowedOrigins)) {
        ctx.logger.info({ origin: req.headers.origin }, '[holdfast] WebSocket from a refused origin')
        rejectUpgrade(socket, 403, 'forbidden', 'origin not allowed; add it to allowedOrigins')
        return
      }
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
      if (!offered.includes(PROTOCOL_VERSION)) {
        rejectUpgrade(socket, 400, 'bad_request', `offer the WebSocket subprotocol "${PROTOCOL_VERSION}"`)
        return
      }
      const admission = ctx.admission?.admit()
      if (admission && !admission.admitted) {
        ctx.metrics.rateLimited('websocket')
        // Accepted, then closed at once: a browser sees the close code and reason, never a bare failed upgrade.
        wss.handleUpgrade(req, socket, head, (ws) => {
          ws.on('error', () => {})
          ws.close(CloseCode.RateLimited, formatRetryAfterReason(admission.retryAfterMs))
        })
        return
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        const connection = new WebSocketConnection(ctx, ws, socket)
        live.add(connection)
        ws.once('close', () => live.delete(connection))
      })
    },
    close() {
      if (pingTimer !== undefined) ctx.clock.clearTimeout(pingTimer)
      pingTimer = undefined
      wss.close()
    },
  }
}

type ConnectionState = 'handshake' | 'authenticating' | 'open' | 'closed'

class WebSocketConnection {
  readonly #ctx: ServerContext
  readonly #ws: WebSocket
  readonly #session = randomUUID()
  readonly #feeds = new Map<string, ChannelFeed>()
  readonly #unregister: () => void
  #state: ConnectionState = 'handshake'
  #user: AuthUser = null
  #alive = true
  #tokenExpired = false
  #handshakeTimer: TimerHandle | undefined
  #expiryTimer: TimerHandle | undefined
  #graceTimer: TimerHandle | undefined
  #connectReceived = false
  #queue: Promise<void> = Promise.resolve()
  #queued = 0
  readonly #gate: SendGate

  constructor(ctx: ServerContext, ws: WebSocket, socket: Duplex) {
    this.#ctx = ctx
    this.#ws = ws
    this.#gate = new SendGate(ctx, {
      transport: 'websocket',
      emitter: () => socket,
      bufferedBytes: () => ws.bufferedAmount,
      sizeOf: (message) => message.frameBytes.length,
      writable: () => ws.readyState === ws.OPEN,
      closed: () => this.#isClosed(),
      send: (message, live) => {
        ws.send(message.frameBytes, { binary: false })
        ctx.metrics.delivered('websocket', message, live)
      },
      slowConsumer: () => this.#slowConsumer(),
    })
    this.#unregister = ctx.connections.add({
      transport: 'websocket',
      drain: (retryAfterMs) => this.#drain(retryAfterMs),
      terminate: () => ws.terminate(),
    })
    this.#handshakeTimer = ctx.clock.setTimeout(
      () => this.#close(CloseCode.HandshakeTimeout, 'no connect frame in time'),
      ctx.options.handshakeTimeoutMs,
    )
    ws.on('message', (data, isBinary) => {
      try {
        this.#onMessage(data, isBinary)
      } catch (error) {
        this.#internalError(error)
      }
    })
    ws.on('pong', () => {
      this.#alive = true
    })
    ws.on('error', (error) =>
      ctx.logger.debug({ session: this.#session, ...errorFields(error) }, '[holdfast] ws error'),
    )
    ws.once('close', (code) => {
      ctx.logger.debug({ session: this.#session, code }, '[holdfast] WebSocket closed')
      this.#cleanup()
      // Only now: shutdown waits for closing handshakes to finish, not merely to start.
      this.#unregister()
    })
    ctx.metrics.connected('websocket')
    ctx.logger.debug({ session: this.#session }, '[holdfast] WebSocket opened')
  }

  /** One liveness round: cut the peer if it never answered the last ping, else ping again. */
  heartbeat(): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return
    if (!this.#alive) {
      this.#ctx.logger.debug({ session: this.#session }, '[holdfast] peer missed a ping; terminating')
      this.#ws.terminate()
      return
    }
    this.#alive = false
    this.#ws.ping()
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    this.#alive = true
    if (this.#state === 'closed') return
    // With the default binaryType every message arrives as one Buffer, fragments already joined.
    const buffer = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data)
    const bytes = buffer.byteLength
    const verdict = this.#admit(buffer, bytes, isBinary)
    if ('error' in verdict) {
      this.#reject(verdict.id, verdict.error, verdict.message)
      return
    }
    const frame = verdict.frame
    if (frame.type === 'ping') {
      this.#sendFrame({ type: 'pong' })
      return
    }
    if (frame.type === 'pong') return
    this.#enqueue(frame)
  }

  // Checks a frame and notes the first `connect`; anything else first is a protocol error.
  #admit(
    buffer: Buffer,
    bytes: number,
    isBinary: boolean,
  ): { frame: ClientFrame } | { id: number | undefined; error: ErrorCode; message: string } {
    if (isBinary)
      return { id: undefined, error: 'bad_frame', message: 'binary frames are not accepted; send JSON text' }
    const text = buffer.toString('utf8')
    const max = this.#ctx.options.maxMessageBytes
    if (bytes > max)
      return {
        id: requestIdOf(text),
        error: 'message_too_large',
        message: `frame of ${bytes} bytes exceeds maxMessageBytes (${max})`,
      }
    const decoded = decodeClientFrame(text)
    if (!decoded.ok)
      return { id: requestIdOf(text), error: decoded.error.code, message: decoded.error.message }
    if (!this.#connectReceived) {
      if (decoded.frame.type !== 'connect')
        return {
          id: undefined,
          error: 'bad_frame',
          message: `expected "connect" as the first frame, got "${decoded.frame.type}"`,
        }
      this.#connectReceived = true
    }
    return { frame: decoded.frame }
  }

  /** Answers a bad frame with a typed error; before `connect` the socket is also closed. */
  #reject(id: number | undefined, code: ErrorCode, message: string): void {
    this.#sendError(id, code, message)
    if (!this.#connectReceived) this.#close(CloseCode.ProtocolError, 'expected a connect frame')
  }

  // Requests run one at a time, in arrival order: a publish sent right after a subscribe is seen by it.
  #enqueue(frame: ClientFrame): void {
    this.#queued++
    if (this.#queued >= PAUSE_AT_QUEUED_FRAMES && !this.#ws.isPaused) this.#ws.pause()
    this.#queue = this.#queue
      .then(() => this.#handle(frame))
      .catch((error: unknown) => this.#internalError(error, 'id' in frame ? frame.id : undefined))
      .finally(() => {
        this.#queued--
        if (this.#queued <= RESUME_AT_QUEUED_FRAMES && this.#ws.isPaused && this.#state !== 'closed')
          this.#ws.resume()
      })
  }

  async #handle(frame: ClientFrame): Promise<void> {
    if (this.#state === 'closed') return
    switch (frame.type) {
      case 'connect':
        return this.#connect(frame.token)
      case 'subscribe':
        return this.#subscribe(frame.id, frame.channel, frame.since)
      case 'unsubscribe':
        return this.#unsubscribe(frame.id, frame.channel)
      case 'publish':
        return this.#publish(frame.id, frame.channel, frame.data, frame.key)
      case 'auth':
        return this.#auth(frame.id, frame.token)
    }
  }

  async #connect(token: string | undefined): Promise<void> {
    if (this.#state !== 'handshake') {
      this.#sendError(undefined, 'bad_frame', 'already connected; "connect" is only valid as the first frame')
      return
    }
    this.#state = 'authenticating'
    try {
      await this.#authenticate(token)
    } catch (error) {
      this.#ctx.logger.error({ session: this.#session, ...errorFields(error) }, '[holdfast] connect failed')
      this.#close(1011, 'internal error')
    }
  }

  async #authenticate(token: string | undefined): Promise<void> {
    const verified = await this.#ctx.authenticator.verify(token)
    if (this.#isClosed()) return
    if (!verified.ok) {
      this.#ctx.metrics.authFailed('websocket', verified.code)
      this.#ctx.logger.info(
        { session: this.#session, code: verified.code },
        '[holdfast] WebSocket auth refused',
      )
      this.#close(
        verified.code === 'token_expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized,
        verified.message,
      )
      return
    }
    const allowed = await this.#ctx.options.authorizeConnection(verified.user)
    if (this.#isClosed()) return
    if (!allowed) {
      this.#close(CloseCode.Forbidden, 'forbidden')
      return
    }
    this.#ctx.clock.clearTimeout(this.#handshakeTimer)
    this.#state = 'open'
    this.#user = verified.user
    const welcome: ServerFrame = {
      type: 'welcome',
      session: this.#session,
      maxMessageBytes: this.#ctx.options.maxMessageBytes,
    }
    if (verified.expiresAtMs !== undefined) welcome.tokenExpiresAt = Math.floor(verified.expiresAtMs / 1000)
    this.#sendFrame(welcome)
    this.#scheduleExpiry(verified.expiresAtMs)
  }

  async #auth(id: number, token: string): Promise<void> {
    if (!this.#ctx.authenticator.enabled) {
      this.#sendFrame({ type: 'ack', id })
      return
    }
    const verified = await this.#ctx.authenticator.verify(token)
    if (this.#isClosed()) return
    if (!verified.ok) {
      this.#ctx.metrics.authFailed('websocket', verified.code)
      // The old token keeps its remaining time; a bad refresh does not end a working connection.
      this.#sendError(id, verified.code, verified.message)
      return
    }
    if (verified.user?.sub !== this.#user?.sub) {
      this.#sendError(id, 'forbidden', 'the new token is for another user; reconnect to switch users')
      return
    }
    this.#user = verified.user
    this.#scheduleExpiry(verified.expiresAtMs)
    this.#sendFrame({ type: 'ack', id })
  }

  async #subscribe(id: number, channel: string, since: string | undefined): Promise<void> {
    if (this.#refuseExpired(id, channel)) return
    const limit = this.#ctx.options.maxSubscriptionsPerConnection
    if (!this.#feeds.has(channel) && this.#feeds.size >= limit) {
      this.#sendError(id, 'too_many_subscriptions', `at most ${limit} subscriptions per connection`, channel)
      return
    }
    if (!(await this.#ctx.options.authorize(this.#user, channel, 'subscribe'))) {
      if (!this.#isClosed())
        this.#sendError(id, 'forbidden', `not allowed to subscribe to "${channel}"`, channel)
      return
    }
    if (this.#isClosed()) return
    // Subscribing again replaces the old subscription, e.g. to rewind it with another `since`.
    this.#feeds.get(channel)?.close()
    const feed = new ChannelFeed({
      broker: this.#ctx.broker,
      channel,
      ...(since === undefined ? {} : { since }),
      sink: this.#sink,
      maxBufferedBytes: this.#ctx.options.sendBufferBytes,
      policy: this.#ctx.options.slowConsumer(channel),
      logger: this.#ctx.logger,
      resyncListeners: this.#ctx.resyncListeners,
    })
    this.#feeds.set(channel, feed)
    let result: Awaited<ReturnType<ChannelFeed['open']>>
    try {
      result = await feed.open()
    } catch (error) {
      feed.close()
      if (this.#feeds.get(channel) === feed) this.#feeds.delete(channel)
      throw error
    }
    if (result === null || this.#isClosed()) return
    if (since !== undefined) this.#ctx.metrics.resumed('websocket', result.recovered)
    this.#sendFrame({
      type: 'subscribed',
      id,
      channel,
      epoch: result.epoch,
      cursor: result.head,
      recovered: result.recovered,
    })
    feed.start(result)
  }

  async #unsubscribe(id: number, channel: string): Promise<void> {
    const feed = this.#feeds.get(channel)
    feed?.close()
    this.#feeds.delete(channel)
    this.#sendFrame({ type: 'unsubscribed', id, channel })
  }

  async #publish(id: number, channel: string, data: unknown, key: string | undefined): Promise<void> {
    if (this.#refuseExpired(id, channel)) return
    if (!(await this.#ctx.options.authorize(this.#user, channel, 'publish'))) {
      if (!this.#isClosed())
        this.#sendError(id, 'forbidden', `not allowed to publish to "${channel}"`, channel)
      return
    }
    if (this.#isClosed()) return
    const result = await this.#ctx.broker.publish(
      channel,
      JSON.stringify(data),
      key === undefined ? {} : { idempotencyKey: key },
    )
    this.#ctx.metrics.published('websocket', result.duplicate)
    this.#sendFrame({ type: 'ack', id, cursor: result.cursor, duplicate: result.duplicate })
  }

  #refuseExpired(id: number, channel: string): boolean {
    if (!this.#tokenExpired) return false
    this.#sendError(id, 'token_expired', 'the token expired; send an "auth" frame with a fresh one', channel)
    return true
  }

  #scheduleExpiry(expiresAtMs: number | undefined): void {
    const { clock } = this.#ctx
    clock.clearTimeout(this.#expiryTimer)
    clock.clearTimeout(this.#graceTimer)
    this.#expiryTimer = this.#graceTimer = undefined
    this.#tokenExpired = false
    if (expiresAtMs === undefined) return
    const delay = expiresAtMs - clock.now()
    if (delay > MAX_TIMER_DELAY_MS) {
      // Timers cannot wait this long; check again later rather than fire at once.
      this.#expiryTimer = clock.setTimeout(() => this.#scheduleExpiry(expiresAtMs), MAX_TIMER_DELAY_MS)
      return
    }
    this.#expiryTimer = clock.setTimeout(() => this.#onTokenExpired(), Math.max(0, delay))
  }

  #onTokenExpired(): void {
    if (this.#isClosed()) return
    this.#tokenExpired = true
    const graceMs = this.#ctx.options.expiryGraceMs
    this.#sendError(
      undefined,
      'token_expired',
      `the token expired; send an "auth" frame within ${graceMs} ms`,
    )
    this.#graceTimer = this.#ctx.clock.setTimeout(
      () => this.#close(CloseCode.TokenExpired, 'token expired'),
      graceMs,
    )
  }

  readonly #sink: FeedSink = {
    write: (message, live, policy) => this.#gate.write(message, live, policy),
    dropped: (reason) => this.#ctx.metrics.dropped('websocket', reason),
    bufferedBytes: () => this.#ws.bufferedAmount,
    drained: () => this.#gate.drained(),
    fail: (reason: FeedFailure) => {
      if (reason === 'slow_consumer') this.#slowConsumer()
      else if (reason === 'history_lost')
        // Only a fresh subscription can report the gap (`recovered: false`), so the client must resubscribe.
        this.#close(CloseCode.ServerRestart, formatRetryAfterReason(0))
      else this.#close(1011, 'internal error')
    },
  }

  #sendFrame(frame: ServerFrame): void {
    this.#send(JSON.stringify(frame))
  }

  #sendError(id: number | undefined, code: ErrorCode, message: string, channel?: string): void {
    const frame: ServerFrame = { type: 'error', code, message }
    if (id !== undefined) frame.id = id
    if (channel !== undefined) frame.channel = channel
    this.#sendFrame(frame)
  }

  // Replies, errors and hints: small, and never dropped. They may use twice the send buffer, so a
  // connection that drops or parks messages still gets its acks; past that it is closed whatever the policy.
  #send(data: string | Buffer): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return
    if (this.#ws.bufferedAmount + data.length > 2 * this.#ctx.options.sendBufferBytes) {
      this.#slowConsumer()
      return
    }
    this.#ws.send(data, { binary: false })
  }

  #slowConsumer(): void {
    if (this.#isClosed()) return
    this.#ctx.metrics.slowConsumerClosed('websocket')
    this.#ctx.logger.warn(
      { session: this.#session, bufferedBytes: this.#ws.bufferedAmount },
      '[holdfast] slow consumer: send buffer full; closing with 4001',
    )
    this.#close(CloseCode.SlowConsumer, 'slow consumer')
  }

  #drain(retryAfterMs: number): void {
    if (this.#isClosed()) return
    this.#sendFrame({ type: 'reconnect', retryAfterMs })
    this.#close(CloseCode.ServerRestart, formatRetryAfterReason(retryAfterMs))
  }

  #internalError(error: unknown, id?: number): void {
    const wrapped = HoldfastServerError.from(error)
    if (wrapped.code === 'internal')
      this.#ctx.logger.error(
        { session: this.#session, ...errorFields(error) },
        '[holdfast] WebSocket handler failed',
      )
    if (!this.#isClosed()) this.#sendError(id, wrapped.code, wrapped.message)
  }

  #isClosed(): boolean {
    return this.#state === 'closed'
  }

  #close(code: number, reason: string): void {
    if (this.#isClosed()) return
    this.#cleanup()
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING)
      this.#ws.close(code, reason)
  }

  #cleanup(): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    const { clock } = this.#ctx
    clock.clearTimeout(this.#handshakeTimer)
    clock.clearTimeout(this.#expiryTimer)
    clock.clearTimeout(this.#graceTimer)
    for (const feed of this.#feeds.values()) feed.close()
    this.#feeds.clear()
    this.#gate.clear()
    // Paused behind a backlog of requests, the socket would never read the peer's close frame, and the
    // connection would only go when the close timeout cuts it (holding a graceful shutdown that long).
    if (this.#ws.isPaused) this.#ws.resume()
  }
}

/** The request id of a frame that failed validation, so its error can still name the request. */
function requestIdOf(text: string): number | undefined {
  try {
    const value = JSON.parse(text) as { id?: unknown }
    const id = value?.id
    return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 2 ** 31 - 1 ? id : undefined
  } catch {
    return undefined
  }
}
