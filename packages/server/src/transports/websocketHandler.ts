import { randomBytes } from 'node:crypto'
import type { EventEmitter } from 'node:events'
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
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import { mayUse } from '../auth/authenticateRequest'
import type { AuthUser } from '../auth/createAuthenticator'
import type { StoredMessage } from '../broker/Broker'
import { MAX_TIMER_DELAY_MS, type TimerHandle, unrefTimer } from '../Clock'
import type { TrackedConnection } from '../ConnectionRegistry'
import type { FeedFailure, FeedSink } from '../delivery/ChannelFeed'
import { SendGate, type SendGateTarget } from '../delivery/SendGate'
import { encodePayload } from '../encodePayload'
import { HoldfastServerError } from '../HoldfastServerError'
import { isOriginAllowed } from '../http/originPolicy'
import { rejectUpgrade } from '../http/upgradeResponse'
import { errorFields } from '../Logger'
import {
  addressFullRefusal,
  admissionRefusal,
  authFailureRefusal,
  clientKey,
  publishRefusal,
} from '../limits/guards'
import type { BucketState } from '../limits/RateLimiter'
import type { DropReason } from '../metrics/ServerMetrics'
import { createFeed, type Feed, presenceName } from '../presence/presenceFeeds'
import type { ServerContext } from '../ServerContext'
import { type SlowConsumerPolicy, socketAddress } from '../ServerOptions'

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
// What a publish to a presence enter channel is acknowledged with: it stores nothing a client reads back.
const PRESENCE_ACK_CURSOR = 'presence:0'
// How long a closing handshake may take before the socket is cut (a slow consumer never reads its close).
const CLOSE_TIMEOUT_MS = 5000

/**
 * How long a connection's later publishes are held behind a rate-limited one that the client does not send
 * again (beyond its `retryAfterMs`). A client that resends it, as the protocol asks, ends the hold at once.
 */
const HOLD_GRACE_MS = 10_000

/** A rate-limited publish that the connection's later publishes wait behind. */
interface PublishHold {
  /** Its idempotency key; without one the hold lasts `retryAfterMs` past the last refusal only. */
  readonly key: string | undefined
  readonly retryAfterMs: number
  /** Server time (ms) when the hold lapses; each later refusal pushes it `retryAfterMs` on. */
  until: number
}

/** What every WebSocket of one server shares, so each connection holds one reference instead of many. */
interface Shared {
  readonly ctx: ServerContext
  /** Session ids are this server's random prefix and a counter: unique, short, and cheap to hold. */
  readonly sessionPrefix: string
  sessions: number
}

export function createWebSocketHandler(ctx: ServerContext): WebSocketHandler {
  const { options } = ctx
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // `ws` closes with 1009 above this on its own; between the limit and twice the limit we answer
    // `message_too_large` and keep the connection.
    maxPayload: options.maxMessageBytes * 2,
    clientTracking: false,
    WebSocket: OwnedSocket,
    // Known to ws 8.19+, not yet to @types/ws.
    ...({ closeTimeout: CLOSE_TIMEOUT_MS } as object),
    handleProtocols: (protocols) => (protocols.has(PROTOCOL_VERSION) ? PROTOCOL_VERSION : false),
  })
  const shared: Shared = {
    ctx,
    sessionPrefix: randomBytes(6).toString('base64url'),
    sessions: 0,
  }
  const onUpgradeSocketError = (error: Error) =>
    ctx.logger.debug(errorFields(error), '[holdfast] upgrade socket error')

  // One timer for all sockets: each round, a socket that did not answer the previous ping is cut.
  let pingTimer: TimerHandle | undefined
  const schedulePing = () => {
    pingTimer = ctx.clock.setTimeout(() => {
      ctx.connections.forEach('websocket', (connection) => (connection as WebSocketConnection).heartbeat())
      schedulePing()
    }, options.pingIntervalMs)
    // The HTTP server keeps the process alive; this timer alone must not.
    unrefTimer(pingTimer)
  }
  schedulePing()

  /** Accepted, then closed at once: a browser sees the close code and reason, never a bare failed upgrade. */
  const refuse = (req: IncomingMessage, socket: Duplex, head: Buffer, refusal: HoldfastServerError) => {
    ctx.metrics.rateLimited('websocket')
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', ignore)
      ws.close(CloseCode.RateLimited, formatRetryAfterReason(refusal.retryAfterMs ?? 1000))
    })
  }

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', onUpgradeSocketError)
      if (ctx.isDraining()) {
        rejectUpgrade(socket, 503, 'server_restart', 'the server is shutting down; reconnect shortly', {
          'Retry-After': '1',
        })
        return
      }
      if (!isOriginAllowed(req, options)) {
        ctx.logger.debug({ origin: req.headers.origin }, '[holdfast] WebSocket from a refused origin')
        rejectUpgrade(socket, 403, 'forbidden', 'origin not allowed; add it to allowedOrigins')
        return
      }
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
      if (!offered.includes(PROTOCOL_VERSION)) {
        rejectUpgrade(socket, 400, 'bad_request', `offer the WebSocket subprotocol "${PROTOCOL_VERSION}"`)
        return
      }
      // The address is read now only when something needs it now (a per-address cap, or a custom
      // `clientAddress` that reads headers); otherwise from the socket, if ever (it costs a cache per socket).
      const address =
        options.maxConnectionsPerAddress !== undefined || options.clientAddress !== socketAddress
          ? options.clientAddress(req)
          : undefined
      const full = address === undefined ? undefined : addressFullRefusal(ctx, address)
      if (full) {
        refuse(req, socket, head, full)
        return
      }
      // Admission (`limits.connectionRate`) is taken after the `connect` frame's token is verified, so
      // upgrades without a valid token never spend the budget of real users.
      wss.handleUpgrade(req, socket, head, (ws) => {
        // From here `ws` handles the socket's errors.
        socket.off('error', onUpgradeSocketError)
        new WebSocketConnection(shared, ws as OwnedSocket, socket, address)
      })
    },
    close() {
      if (pingTimer !== undefined) ctx.clock.clearTimeout(pingTimer)
      pingTimer = undefined
      wss.close()
    },
  }
}

function ignore(): void {}

/**
 * The `ws` socket class with a slot for its connection, declared so it is part of every socket from the
 * start (a property added later would give each socket a property array of its own). The `ws` listeners
 * are shared functions, not closures per connection: they find their connection through the socket.
 */
class OwnedSocket extends WebSocket {
  connection: WebSocketConnection | undefined = undefined
}

function onSocketMessage(this: OwnedSocket, data: RawData, isBinary: boolean): void {
  const connection = this.connection!
  try {
    connection.onMessage(data, isBinary)
  } catch (error) {
    connection.internalError(error)
  }
}
function onSocketPong(this: OwnedSocket): void {
  this.connection!.markAlive()
}
function onSocketError(this: OwnedSocket, error: Error): void {
  this.connection!.logDebug(errorFields(error), '[holdfast] ws error')
}
function onSocketClose(this: OwnedSocket, code: number): void {
  this.connection!.onClosed(code)
}

// Connection state and flags, packed into one small integer.
const HANDSHAKE = 0
const AUTHENTICATING = 1
const OPEN = 2
const CLOSED = 3
const STATE_MASK = 3
const ALIVE = 4
const TOKEN_EXPIRED = 8
const CONNECT_RECEIVED = 16

/**
 * One WebSocket. It is its own send-gate target, feed sink and registry entry, so a connection costs one
 * object, its feeds and its gate, and no closures of its own: a server holds tens of thousands of these.
 */
class WebSocketConnection implements TrackedConnection, SendGateTarget, FeedSink {
  readonly transport = 'websocket' as const
  readonly #shared: Shared
  readonly #ws: OwnedSocket
  readonly #socket: Duplex
  // The session id is the server's prefix and this number, formatted when needed (welcome, logs).
  readonly #sessionNumber: number
  // Created on the first message: an idle connection never needs it.
  #sendGate: SendGate | undefined
  #address: string | undefined
  // One subscription is held as is; a Map only from the second on (most connections follow one channel).
  #feeds: Feed | Map<string, Feed> | undefined
  #flags = HANDSHAKE | ALIVE
  #user: AuthUser = null
  // The handshake timeout until `connect`, then the token's expiry, then its grace period.
  #timer: TimerHandle | undefined
  #queue: Promise<void> | undefined
  #queued = 0
  #publishBucket: BucketState | undefined
  // After a rate-limited publish: the connection's later publishes wait behind it (see #publish).
  #publishHold: PublishHold | undefined

  constructor(shared: Shared, ws: OwnedSocket, socket: Duplex, address: string | undefined) {
    const { ctx } = shared
    this.#shared = shared
    this.#ws = ws
    ws.connection = this
    this.#socket = socket
    this.#address = address
    this.#sessionNumber = ++shared.sessions
    ctx.connections.add(this)
    this.#timer = ctx.clock.setTimeout(
      () => this.#close(CloseCode.HandshakeTimeout, 'no connect frame in time'),
      ctx.options.handshakeTimeoutMs,
    )
    const owned = ws as unknown as EventEmitter
    owned.on('message', onSocketMessage)
    owned.on('pong', onSocketPong)
    owned.on('error', onSocketError)
    owned.on('close', onSocketClose)
    ctx.metrics.connected('websocket')
    ctx.logger.debug({ session: this.#session }, '[holdfast] WebSocket opened')
  }

  get #ctx(): ServerContext {
    return this.#shared.ctx
  }

  get #session(): string {
    return `${this.#shared.sessionPrefix}${this.#sessionNumber.toString(36)}`
  }

  get #gate(): SendGate {
    this.#sendGate ??= new SendGate(this.#ctx, this)
    return this.#sendGate
  }

  /** The client address (`ServerOptions.clientAddress`), read from the socket when first needed. */
  get address(): string {
    this.#address ??= (this.#socket as { remoteAddress?: string }).remoteAddress ?? 'unknown'
    return this.#address
  }

  #feed(channel: string): Feed | undefined {
    const feeds = this.#feeds
    if (feeds instanceof Map) return feeds.get(channel)
    return feeds?.channel === channel ? feeds : undefined
  }

  #feedCount(): number {
    const feeds = this.#feeds
    return feeds instanceof Map ? feeds.size : feeds ? 1 : 0
  }

  #allFeeds(): Feed[] {
    const feeds = this.#feeds
    return feeds instanceof Map ? [...feeds.values()] : feeds ? [feeds] : []
  }

  #setFeed(feed: Feed): void {
    const feeds = this.#feeds
    if (feeds === undefined || (!(feeds instanceof Map) && feeds.channel === feed.channel)) this.#feeds = feed
    else if (feeds instanceof Map) feeds.set(feed.channel, feed)
    else
      this.#feeds = new Map([
        [feeds.channel, feeds],
        [feed.channel, feed],
      ])
  }

  /** Forgets `feed` if it is still the channel's subscription. */
  #deleteFeed(feed: Feed): void {
    const feeds = this.#feeds
    if (feeds === feed) this.#feeds = undefined
    else if (feeds instanceof Map && feeds.get(feed.channel) === feed) {
      feeds.delete(feed.channel)
      if (feeds.size === 1) this.#feeds = feeds.values().next().value
    }
  }

  get #state(): number {
    return this.#flags & STATE_MASK
  }

  set #state(state: number) {
    this.#flags = (this.#flags & ~STATE_MASK) | state
  }

  #has(flag: number): boolean {
    return (this.#flags & flag) !== 0
  }

  #set(flag: number, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag
  }

  // ── TrackedConnection ────────────────────────────────────────────────────────────────────────────

  /** Tells the client when to come back, then closes (a drain or restart). */
  drain(retryAfterMs: number): void {
    if (this.#isClosed()) return
    this.#sendFrame({ type: 'reconnect', retryAfterMs })
    this.#close(CloseCode.ServerRestart, formatRetryAfterReason(retryAfterMs))
  }

  terminate(): void {
    this.#ws.terminate()
  }

  // ── SendGateTarget ───────────────────────────────────────────────────────────────────────────────

  emitter(): EventEmitter {
    return this.#socket
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount
  }

  sizeOf(message: StoredMessage): number {
    return message.frameBytes.length
  }

  writable(): boolean {
    return this.#ws.readyState === this.#ws.OPEN
  }

  closed(): boolean {
    return this.#isClosed()
  }

  send(message: StoredMessage, live: boolean): void {
    this.#ws.send(message.frameBytes, { binary: false })
    this.#ctx.metrics.delivered('websocket', message, live)
  }

  slowConsumer(): void {
    if (this.#isClosed()) return
    this.#ctx.metrics.slowConsumerClosed('websocket')
    this.#ctx.logger.warn(
      { session: this.#session, bufferedBytes: this.#ws.bufferedAmount },
      '[holdfast] slow consumer: send buffer full; closing with 4001',
    )
    this.#close(CloseCode.SlowConsumer, 'slow consumer')
  }

  // ── FeedSink ─────────────────────────────────────────────────────────────────────────────────────

  write(message: StoredMessage, live: boolean, policy: SlowConsumerPolicy): void {
    this.#gate.write(message, live, policy)
  }

  dropped(reason: DropReason): void {
    this.#ctx.metrics.dropped('websocket', reason)
  }

  drained(): Promise<void> {
    return this.#gate.drained()
  }

  fail(reason: FeedFailure): void {
    if (reason === 'slow_consumer') this.slowConsumer()
    else if (reason === 'history_lost')
      // Only a fresh subscription can report the gap (`recovered: false`), so the client must resubscribe.
      this.#close(CloseCode.ServerRestart, formatRetryAfterReason(0))
    else this.#close(1011, 'internal error')
  }

  // ── socket events ────────────────────────────────────────────────────────────────────────────────

  markAlive(): void {
    this.#set(ALIVE, true)
  }

  logDebug(fields: Record<string, unknown>, message: string): void {
    this.#ctx.logger.debug({ session: this.#session, ...fields }, message)
  }

  onClosed(code: number): void {
    this.#ctx.logger.debug({ session: this.#session, code }, '[holdfast] WebSocket closed')
    this.#cleanup()
    // Only now: shutdown waits for closing handshakes to finish, not merely to start.
    this.#ctx.connections.remove(this)
  }

  /** One liveness round: cut the peer if it never answered the last ping, else ping again. */
  heartbeat(): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return
    if (!this.#has(ALIVE)) {
      this.logDebug({}, '[holdfast] peer missed a ping; terminating')
      this.#ws.terminate()
      return
    }
    this.#set(ALIVE, false)
    this.#ws.ping()
  }

  onMessage(data: RawData, isBinary: boolean): void {
    this.#set(ALIVE, true)
    if (this.#isClosed()) return
    // With the default binaryType every message arrives as one Buffer, fragments already joined.
    const buffer = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data)
    const verdict = this.#admit(buffer, buffer.byteLength, isBinary)
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
    if (!this.#has(CONNECT_RECEIVED)) {
      if (decoded.frame.type !== 'connect')
        return {
          id: undefined,
          error: 'bad_frame',
          message: `expected "connect" as the first frame, got "${decoded.frame.type}"`,
        }
      this.#set(CONNECT_RECEIVED, true)
    }
    return { frame: decoded.frame }
  }

  /** Answers a bad frame with a typed error; before `connect` the socket is also closed. */
  #reject(id: number | undefined, code: ErrorCode, message: string): void {
    this.#sendError(id, code, message)
    if (!this.#has(CONNECT_RECEIVED)) this.#close(CloseCode.ProtocolError, 'expected a connect frame')
  }

  // Requests run one at a time, in arrival order: a publish sent right after a subscribe is seen by it.
  #enqueue(frame: ClientFrame): void {
    this.#queued++
    if (this.#queued >= PAUSE_AT_QUEUED_FRAMES && !this.#ws.isPaused) this.#ws.pause()
    const run = () => this.#handle(frame)
    this.#queue = (this.#queue ? this.#queue.then(run) : run())
      .catch((error: unknown) => this.internalError(error, 'id' in frame ? frame.id : undefined))
      .finally(() => {
        if (--this.#queued === 0) this.#queue = undefined
        if (this.#queued <= RESUME_AT_QUEUED_FRAMES && this.#ws.isPaused && !this.#isClosed())
          this.#ws.resume()
      })
  }

  async #handle(frame: ClientFrame): Promise<void> {
    if (this.#isClosed()) return
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
    if (this.#state !== HANDSHAKE) {
      this.#sendError(undefined, 'bad_frame', 'already connected; "connect" is only valid as the first frame')
      return
    }
    this.#state = AUTHENTICATING
    try {
      await this.#authenticate(token)
    } catch (error) {
      this.#ctx.logger.error({ session: this.#session, ...errorFields(error) }, '[holdfast] connect failed')
      this.#close(1011, 'internal error')
    }
  }

  async #authenticate(token: string | undefined): Promise<void> {
    const ctx = this.#ctx
    const verified = await ctx.authenticator.verify(token)
    if (this.#isClosed()) return
    if (!verified.ok) {
      ctx.metrics.authFailed('websocket', verified.code)
      this.logDebug({ code: verified.code }, '[holdfast] WebSocket auth refused')
      const limited = authFailureRefusal(ctx, this.address)
      if (limited) {
        ctx.metrics.rateLimited('websocket')
        this.#close(CloseCode.RateLimited, formatRetryAfterReason(limited.retryAfterMs ?? 1000))
        return
      }
      this.#close(
        verified.code === 'token_expired' ? CloseCode.TokenExpired : CloseCode.Unauthorized,
        verified.message,
      )
      return
    }
    const allowed = await ctx.options.authorizeConnection(verified.user)
    if (this.#isClosed()) return
    if (!allowed) {
      this.#close(CloseCode.Forbidden, 'forbidden')
      return
    }
    // Only a connection that proved who it is spends the admission budget (`limits.connectionRate`).
    const refused = admissionRefusal(ctx)
    if (refused) {
      ctx.metrics.rateLimited('websocket')
      this.#close(CloseCode.RateLimited, formatRetryAfterReason(refused.retryAfterMs ?? 0))
      return
    }
    ctx.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#state = OPEN
    this.#user = verified.user
    const welcome: ServerFrame = {
      type: 'welcome',
      session: this.#session,
      maxMessageBytes: ctx.options.maxMessageBytes,
    }
    if (verified.expiresAtMs !== undefined) welcome.tokenExpiresAt = Math.floor(verified.expiresAtMs / 1000)
    this.#sendFrame(welcome)
    this.#scheduleExpiry(verified.expiresAtMs)
  }

  async #auth(id: number, token: string): Promise<void> {
    const ctx = this.#ctx
    if (!ctx.authenticator.enabled) {
      this.#sendFrame({ type: 'ack', id })
      return
    }
    const verified = await ctx.authenticator.verify(token)
    if (this.#isClosed()) return
    if (!verified.ok) {
      ctx.metrics.authFailed('websocket', verified.code)
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
    // What the old token allowed, the new one may not: every live subscription is checked again.
    await this.#recheckSubscriptions(verified.user)
    if (this.#isClosed()) return
    this.#sendFrame({ type: 'ack', id })
  }

  async #recheckSubscriptions(user: AuthUser): Promise<void> {
    const feeds = this.#allFeeds()
    if (feeds.length === 0) return
    const ctx = this.#ctx
    const checked = await Promise.all(
      feeds.map(
        async (feed) =>
          [feed, await mayUse(ctx, user, feed.channel, 'subscribe').catch(() => false)] as const,
      ),
    )
    for (const [feed, allowed] of checked) {
      // A subscription replaced or ended meanwhile is no longer this check's business.
      if (allowed || this.#isClosed() || this.#feed(feed.channel) !== feed) continue
      feed.close()
      this.#deleteFeed(feed)
      this.#sendError(
        undefined,
        'forbidden',
        `the new token does not allow "${feed.channel}"; the subscription ended`,
        feed.channel,
      )
    }
  }

  async #subscribe(id: number, channel: string, since: string | undefined): Promise<void> {
    if (this.#refuseExpired(id, channel)) return
    const ctx = this.#ctx
    const limit = ctx.options.maxSubscriptionsPerConnection
    if (!this.#feed(channel) && this.#feedCount() >= limit) {
      this.#sendError(id, 'too_many_subscriptions', `at most ${limit} subscriptions per connection`, channel)
      return
    }
    let allowed: boolean
    try {
      allowed = await mayUse(ctx, this.#user, channel, 'subscribe')
    } catch (error) {
      this.#refuseChannel(id, channel, error)
      return
    }
    if (!allowed) {
      if (!this.#isClosed())
        this.#sendError(id, 'forbidden', `not allowed to subscribe to "${channel}"`, channel)
      return
    }
    if (this.#isClosed()) return
    // Subscribing again replaces the old subscription, e.g. to rewind it with another `since`.
    this.#feed(channel)?.close()
    const feed = createFeed(ctx, { channel, since, sink: this, user: this.#user, holder: 'websocket' })
    this.#setFeed(feed)
    let result: Awaited<ReturnType<Feed['open']>>
    try {
      result = await feed.open()
    } catch (error) {
      feed.close()
      this.#deleteFeed(feed)
      throw error
    }
    if (result === null || this.#isClosed()) return
    if (since !== undefined) ctx.metrics.resumed('websocket', result.recovered)
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
    const feed = this.#feed(channel)
    if (feed) {
      // An enter subscription's member leaves now: the client said so.
      feed.close(true)
      this.#deleteFeed(feed)
    }
    this.#sendFrame({ type: 'unsubscribed', id, channel })
  }

  async #publish(id: number, channel: string, data: unknown, key: string | undefined): Promise<void> {
    if (this.#refuseExpired(id, channel)) return
    const ctx = this.#ctx
    if (ctx.limits.publishPerConnection)
      this.#publishBucket ??= ctx.limits.publishPerConnection.fresh(ctx.clock.now())
    // A connection's publishes are stored in the order it sent them (PROTOCOL.md §3, Limits). A client pipelines
    // them, so when one is refused for its rate the later ones are already on the wire: each is refused too,
    // without spending the bucket, until the refused one comes back (same idempotency key), or, for a client
    // that never sends it again, for HOLD_GRACE_MS.
    const now = ctx.clock.now()
    const hold = this.#publishHold
    if (hold && (key === undefined || key !== hold.key) && now < hold.until) {
      hold.until = Math.max(hold.until, now + hold.retryAfterMs)
      this.#sendError(
        id,
        'rate_limited',
        `publishing too fast: held behind an earlier refused publish; retry in ${hold.retryAfterMs} ms`,
        channel,
        hold.retryAfterMs,
      )
      return
    }
    this.#publishHold = undefined
    const limited = publishRefusal(ctx, clientKey(this.#user, this.address), this.#publishBucket)
    if (limited) {
      const retryAfterMs = limited.retryAfterMs ?? 1
      this.#publishHold = {
        key,
        retryAfterMs,
        until: now + retryAfterMs + (key === undefined ? 0 : HOLD_GRACE_MS),
      }
      this.#sendError(id, limited.code, limited.message, channel, limited.retryAfterMs)
      return
    }
    const json = encodePayload(data, ctx.options.maxMessageBytes)
    let allowed: boolean
    try {
      allowed = await mayUse(ctx, this.#user, channel, 'publish')
    } catch (error) {
      this.#refuseChannel(id, channel, error)
      return
    }
    if (!allowed) {
      if (!this.#isClosed())
        this.#sendError(id, 'forbidden', `not allowed to publish to "${channel}"`, channel)
      return
    }
    if (this.#isClosed()) return
    const name = presenceName(ctx, channel)
    if (name?.connectionId !== undefined) {
      try {
        await ctx.presence.publish(
          this.#user,
          { channel: name.channel, connectionId: name.connectionId },
          data,
        )
      } catch (error) {
        this.#refuseChannel(id, channel, error)
        return
      }
      this.#sendFrame({ type: 'ack', id, cursor: PRESENCE_ACK_CURSOR, duplicate: false })
      return
    }
    const result = await ctx.broker.publish(channel, json, key === undefined ? {} : { idempotencyKey: key })
    ctx.metrics.published('websocket', result.duplicate)
    this.#sendFrame({ type: 'ack', id, cursor: result.cursor, duplicate: result.duplicate })
  }

  /** A request about `channel` refused with a typed error (a server fault is thrown on, as `internal`). */
  #refuseChannel(id: number, channel: string, error: unknown): void {
    const typed = HoldfastServerError.from(error)
    if (typed.code === 'internal') throw error
    if (!this.#isClosed()) this.#sendError(id, typed.code, typed.message, channel, typed.retryAfterMs)
  }

  #refuseExpired(id: number, channel: string): boolean {
    if (!this.#has(TOKEN_EXPIRED)) return false
    this.#sendError(id, 'token_expired', 'the token expired; send an "auth" frame with a fresh one', channel)
    return true
  }

  #scheduleExpiry(expiresAtMs: number | undefined): void {
    const { clock } = this.#ctx
    clock.clearTimeout(this.#timer)
    this.#timer = undefined
    this.#set(TOKEN_EXPIRED, false)
    if (expiresAtMs === undefined) return
    const delay = expiresAtMs - clock.now()
    if (delay > MAX_TIMER_DELAY_MS) {
      // Timers cannot wait this long; check again later rather than fire at once.
      this.#timer = clock.setTimeout(() => this.#scheduleExpiry(expiresAtMs), MAX_TIMER_DELAY_MS)
      return
    }
    this.#timer = clock.setTimeout(() => this.#onTokenExpired(), Math.max(0, delay))
  }

  #onTokenExpired(): void {
    if (this.#isClosed()) return
    this.#set(TOKEN_EXPIRED, true)
    const graceMs = this.#ctx.options.expiryGraceMs
    this.#sendError(
      undefined,
      'token_expired',
      `the token expired; send an "auth" frame within ${graceMs} ms`,
    )
    this.#timer = this.#ctx.clock.setTimeout(
      () => this.#close(CloseCode.TokenExpired, 'token expired'),
      graceMs,
    )
  }

  #sendFrame(frame: ServerFrame): void {
    this.#send(JSON.stringify(frame))
  }

  #sendError(
    id: number | undefined,
    code: ErrorCode,
    message: string,
    channel?: string,
    retryAfterMs?: number,
  ): void {
    const frame: ServerFrame = { type: 'error', code, message }
    if (id !== undefined) frame.id = id
    if (channel !== undefined) frame.channel = channel
    if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs
    this.#sendFrame(frame)
  }

  // Replies, errors and hints: small, and never dropped. They may use twice the send buffer, so a
  // connection that drops or parks messages still gets its acks; past that it is closed whatever the policy.
  #send(data: string | Buffer): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return
    if (this.#ws.bufferedAmount + data.length > 2 * this.#ctx.options.sendBufferBytes) {
      this.slowConsumer()
      return
    }
    this.#ws.send(data, { binary: false })
  }

  /** Answers a request that failed: a client's mistake as its typed error, a server fault as `internal`. */
  internalError(error: unknown, id?: number): void {
    const wrapped = HoldfastServerError.from(error)
    if (wrapped.code === 'internal')
      this.#ctx.logger.error(
        { session: this.#session, ...errorFields(error) },
        '[holdfast] WebSocket handler failed',
      )
    else this.logDebug({ code: wrapped.code }, '[holdfast] WebSocket request refused')
    if (!this.#isClosed()) this.#sendError(id, wrapped.code, wrapped.message, undefined, wrapped.retryAfterMs)
  }

  #isClosed(): boolean {
    return this.#state === CLOSED
  }

  #close(code: number, reason: string): void {
    if (this.#isClosed()) return
    this.#cleanup()
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING)
      this.#ws.close(code, reason)
  }

  #cleanup(): void {
    if (this.#isClosed()) return
    this.#state = CLOSED
    this.#ctx.clock.clearTimeout(this.#timer)
    this.#timer = undefined
    for (const feed of this.#allFeeds()) feed.close()
    this.#feeds = undefined
    this.#sendGate?.clear()
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
