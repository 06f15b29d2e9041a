import {
  CloseCode,
  type Cursor,
  isChannelName,
  type ParsedCursor,
  parseCursor,
  type ServerFrame,
  type SubscribedFrame,
  type WelcomeFrame,
} from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import type {
  DisconnectInfo,
  FetchFunction,
  SubscriptionRequest,
  Transport,
  TransportContext,
  TransportFactory,
  TransportName,
  WebSocketConstructor,
} from '../transports/Transport'
import { type BackoffOptions, nextBackoffDelay, type ResolvedBackoff, resolveBackoff } from './backoff'
import { createDelivery, type Delivery, type DeliveryPolicy } from './delivery'
import { Heartbeat, type HeartbeatOptions } from './heartbeat'
import { createMessageStream, type StreamOptions } from './messageStream'
import { PublishQueue, type PublishQueueOptions, type PublishResult } from './publishQueue'
import { globalTimers, systemClock, Timer, type Timers } from './timers'
import { type GetToken, TokenManager } from './tokenManager'
import type { ClientEvents, ConnectionState, GapInfo, Message, Subscription } from './types'

/** Options of `createClient`. Only `url` is required. */
export interface ClientOptions {
  /** Server base URL, e.g. `https://rt.example.com`; `/ws`, `/sse`, `/poll`, `/publish` are derived from it. */
  url: string
  /** Returns the current access token (a JWT). Called single-flight, before expiry and after a token error. */
  getToken?: GetToken
  /** Transports in order of preference. Defaults to every transport this entry ships, best first. */
  transports?: TransportName[]
  /** WebSocket implementation (for Node: `ws`). Defaults to `globalThis.WebSocket`, read at connect time. */
  WebSocket?: WebSocketConstructor
  /** fetch implementation. Defaults to `globalThis.fetch`, read at call time. */
  fetch?: FetchFunction
  /** Reconnect delays. Defaults to full jitter, 500 ms base, 30 s cap. */
  backoff?: BackoffOptions
  /** Client heartbeat on the WebSocket. Defaults to `{ intervalMs: 20000, timeoutMs: 10000 }`; `false` turns it off. */
  heartbeat?: HeartbeatOptions | false
  /** Bounds of the queue of unacknowledged publishes. */
  queue?: PublishQueueOptions
  /** Refresh the token this long before its `exp`. Defaults to 30000. */
  tokenRefreshMarginMs?: number
  /** Fallback behaviour between transports. */
  fallback?: {
    /** While on a lower transport, try the preferred one again this often (jittered ±50%). Defaults to 30000; 0 turns probing off. */
    probeIntervalMs?: number
    /** Consecutive failed opens after which a transport that worked before is left. Defaults to 3. */
    failuresBeforeFallback?: number
  }
  /** Connect on the first `subscribe` or `publish` instead of at once. Defaults to false. */
  lazy?: boolean
  /**
   * Calls `fn` whenever the network may be back; returns an unsubscribe. Defaults to the window's `online`
   * event and the page becoming visible again (a laptop waking, a tab brought back), where they exist.
   */
  onOnline?: ((fn: () => void) => () => void) | false
  timers?: Timers
  now?: () => number
  random?: () => number
  /** Debug log sink; `true` logs to `console.debug`. Off by default and free when off. */
  debug?: boolean | ((message: string, details?: unknown) => void)
}

export interface SubscribeOptions {
  /** Resume after this cursor: everything newer is replayed first. Applies when the channel is first subscribed. */
  since?: Cursor
  /** Called when history since the cursor could not be replayed in full. */
  onGap?: (gap: GapInfo) => void
  /** Called when the server refuses this channel (for example `forbidden`) or the subscriber fails. */
  onError?: (error: HoldfastError) => void
  /** Called each time the server confirms the subscription (after every (re)connect), with where it resumed. */
  onSubscribed?: (info: { channel: string; epoch: string; cursor: Cursor; recovered: boolean }) => void
  /** Backpressure policy for this subscriber. Defaults to `{ policy: 'buffer', maxMessages: 1000, overflow: 'error' }`. */
  delivery?: DeliveryPolicy
}

export interface PublishOptions {
  /** Idempotency key; the server stores a key once per window. Defaults to a random key, kept across resends. */
  key?: string
}

interface Listener {
  delivery: Delivery
  options: SubscribeOptions
}

interface ChannelEntry {
  channel: string
  listeners: Set<Listener>
  /** Last delivered cursor: resume point and duplicate filter. */
  cursor: Cursor | undefined
  /** Newest cursor when last subscribed: resume point before any message arrives. */
  head: Cursor | undefined
  /** What the pending subscribe asked for, to report a gap against. */
  asked: Cursor | undefined
  failed: HoldfastError | undefined
  /** `cursor`, parsed, remembered with the string it came from. */
  parsed?: { cursor: Cursor; at: ParsedCursor | null }
}

export interface ClientStats {
  messagesDelivered: number
  duplicatesDropped: number
  gaps: number
  connects: number
}

const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024
const UTF8 = new TextEncoder()

/** The transport-agnostic client. Create it with `createClient`. */
export class HoldfastClient {
  #current: ConnectionState
  readonly #stateListeners = new Set<(state: ConnectionState) => void>()
  readonly #eventListeners: { [K in keyof ClientEvents]: Set<(e: ClientEvents[K]) => void> } = {
    gap: new Set(),
    error: new Set(),
  }
  readonly #channels = new Map<string, ChannelEntry>()
  readonly #queue: PublishQueue
  readonly #tokens: TokenManager
  readonly #backoff: ResolvedBackoff
  readonly #timers: Timers
  readonly #now: () => number
  readonly #random: () => number
  readonly #order: TransportName[]
  readonly #log: ((message: string, details?: unknown) => void) | undefined
  readonly #heartbeat: Heartbeat | undefined
  readonly #waitTimer: Timer
  readonly #stableTimer: Timer
  readonly #tokenTimer: Timer
  readonly #probeTimer: Timer
  readonly #queueTimer: Timer
  readonly #retryPublishTimer: Timer

  #transport: Transport | undefined
  #transportIndex = 0
  #generation = 0
  #running = false
  #connected = false
  #attempt = 0
  #lastDelayMs = 0
  /** When the next attempt may start (ms since epoch); 0 means at once. */
  #retryAt = 0
  #cycledAll = false
  #refreshStreak = 0
  #lastError: HoldfastError | undefined
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES
  readonly #failures = new Map<TransportName, number>()
  readonly #everOpened = new Set<TransportName>()
  #wake: ((go: boolean) => void) | undefined
  #offOnline: (() => void) | undefined
  #keyCounter = 0

  /** Counters for tests and dashboards. */
  readonly stats: ClientStats = { messagesDelivered: 0, duplicatesDropped: 0, gaps: 0, connects: 0 }

  readonly #options: ClientOptions
  readonly #factories: Partial<Record<TransportName, TransportFactory>>

  constructor(options: ClientOptions, factories: Partial<Record<TransportName, TransportFactory>>) {
    this.#options = options
    this.#factories = factories
    if (typeof options.url !== 'string' || !/^(https?|wss?):\/\//.test(options.url)) {
      throw new HoldfastError(
        'bad_request',
        `createClient needs an absolute http(s) url, got ${String(options.url)}`,
      )
    }
    const available = Object.keys(factories) as TransportName[]
    this.#order = options.transports ?? available
    if (this.#order.length === 0)
      throw new HoldfastError('bad_request', 'transports must name at least one transport')
    for (const name of this.#order) {
      if (!factories[name]) {
        throw new HoldfastError(
          'bad_request',
          `transport "${name}" is not available in this build; available: ${available.join(', ')}`,
        )
      }
    }
    this.#timers = options.timers ?? globalTimers
    this.#now = options.now ?? systemClock
    this.#random = options.random ?? Math.random
    this.#backoff = resolveBackoff(options.backoff)
    this.#queue = new PublishQueue(options.queue)
    this.#tokens = new TokenManager(options.getToken, this.#now, options.tokenRefreshMarginMs ?? 30_000)
    this.#log =
      options.debug === true
        ? (message, details) => console.debug(`[holdfast] ${message}`, details ?? '')
        : typeof options.debug === 'function'
          ? options.debug
          : undefined
    this.#waitTimer = new Timer(this.#timers)
    this.#stableTimer = new Timer(this.#timers)
    this.#tokenTimer = new Timer(this.#timers)
    this.#probeTimer = new Timer(this.#timers)
    this.#queueTimer = new Timer(this.#timers)
    this.#retryPublishTimer = new Timer(this.#timers)
    if (options.heartbeat !== false) {
      this.#heartbeat = new Heartbeat(
        {
          intervalMs: options.heartbeat?.intervalMs ?? 20_000,
          timeoutMs: options.heartbeat?.timeoutMs ?? 10_000,
        },
        this.#timers,
        this.#now,
        () => this.#transport?.ping?.(),
        () => {
          this.#debug('heartbeat timeout: connection is dead')
          this.#transport?.reconnect(CloseCode.HeartbeatTimeout, 'heartbeat timeout')
        },
      )
    }
    this.#current = { status: 'closed', transport: undefined, error: undefined }
    if (!options.lazy) this.connect()
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.#current
  }

  /** Calls `fn` on every state change; returns an unsubscribe function. */
  onStateChange(fn: (state: ConnectionState) => void): () => void {
    this.#stateListeners.add(fn)
    return () => this.#stateListeners.delete(fn)
  }

  /** Listens to client-wide events: `gap` (history lost on a channel) and `error`. */
  on<K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void): () => void {
    const set = this.#eventListeners[event] as Set<(e: ClientEvents[K]) => void>
    set.add(fn)
    return () => set.delete(fn)
  }

  /**
   * Receives every message on `channel`. Several subscriptions to one channel share one network
   * subscription. After any reconnect or transport switch the client resumes from the last cursor:
   * nothing lost, nothing duplicated, order kept.
   */
  subscribe<TData = unknown>(
    channel: string,
    handler: (message: Message<TData>) => void,
    options: SubscribeOptions = {},
  ): Subscription {
    checkChannel(channel)
    if (typeof handler !== 'function')
      throw new HoldfastError('bad_request', 'subscribe needs a handler function')
    let entry = this.#channels.get(channel)
    const isNew = !entry
    if (!entry) {
      entry = {
        channel,
        listeners: new Set(),
        cursor: options.since,
        head: undefined,
        asked: undefined,
        failed: undefined,
      }
      this.#channels.set(channel, entry)
    }
    const owner = entry
    let active = true
    const unsubscribe = () => {
      if (!active) return
      active = false
      listener.delivery.close()
      owner.listeners.delete(listener)
      if (owner.listeners.size === 0 && this.#channels.get(channel) === owner) {
        this.#channels.delete(channel)
        this.#scheduleSync()
      }
    }
    const listener: Listener = {
      options,
      delivery: createDelivery(options.delivery, handler as (m: Message) => unknown, {
        timers: this.#timers,
        fail: (error, fatal) => {
          if (fatal) unsubscribe()
          this.#safely(() => options.onError?.(error))
          this.#emit('error', error)
        },
      }),
    }
    entry.listeners.add(listener)
    const refused = entry.failed
    if (refused) {
      // The channel was already refused: tell this subscriber too instead of leaving it waiting.
      queueMicrotask(() => {
        if (active) this.#safely(() => options.onError?.(refused))
      })
    }
    if (isNew) {
      if (!this.#running && this.#options.lazy && this.#current.status === 'closed' && !this.#current.error) {
        this.connect()
      }
      this.#scheduleSync()
    }
    return {
      channel,
      get cursor() {
        return owner.cursor
      },
      unsubscribe,
    }
  }

  /**
   * The channel as an async iterator: `for await (const msg of client.stream('ticks'))`.
   * A consumer more than `highWaterMark` messages behind ends with a `slow_consumer` error.
   * Leaving the loop unsubscribes.
   */
  stream<TData = unknown>(
    channel: string,
    options: StreamOptions & Pick<SubscribeOptions, 'since' | 'onGap'> = {},
  ): AsyncIterableIterator<Message<TData>> & { readonly backlog: number } {
    return createMessageStream<TData>(
      (push, fail) =>
        this.subscribe<TData>(channel, push, {
          since: options.since,
          onGap: options.onGap,
          onError: (error) => {
            if (error.code === 'forbidden' || error.code === 'unauthorized') fail(error)
          },
        }),
      options,
    )
  }

  #syncScheduled = false
  /** Coalesces subscribe/unsubscribe bursts (React StrictMode mounts twice) into one network update. */
  #scheduleSync(): void {
    if (this.#syncScheduled) return
    this.#syncScheduled = true
    queueMicrotask(() => {
      this.#syncScheduled = false
      this.#transport?.syncSubscriptions()
    })
  }

  /**
   * Publishes `data` to `channel`. Resolves with the stored cursor once the server has stored it.
   * While disconnected it waits in a bounded queue; a full queue rejects with `queue_full`.
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    checkChannel(channel)
    if (this.#current.status === 'closed' && (this.#current.error || !this.#options.lazy) && !this.#running) {
      throw new HoldfastError('closed', 'client is closed; call connect() first')
    }
    let json: string | undefined
    try {
      json = JSON.stringify(data)
    } catch (error) {
      throw new HoldfastError('bad_request', 'publish data must be JSON-serialisable', { cause: error })
    }
    if (json === undefined) throw new HoldfastError('bad_request', 'publish data must not be undefined')
    const bytes = UTF8.encode(json).length
    if (bytes > this.#maxMessageBytes) {
      throw new HoldfastError(
        'message_too_large',
        `message is ${bytes} bytes; the server accepts at most ${this.#maxMessageBytes}`,
      )
    }
    // A full queue throws inside the executor, which rejects this promise.
    return new Promise<PublishResult>((resolve, reject) => {
      this.#queue.add({
        channel,
        data,
        key: options.key ?? this.#newKey(),
        bytes,
        enqueuedAt: this.#now(),
        inFlight: false,
        resolve,
        reject,
      })
      if (!this.#running && this.#options.lazy) this.connect()
      this.#scheduleQueueExpiry()
      this.#flushQueue()
    })
  }

  /** Starts (or restarts after `close()` or a terminal error) connecting. */
  connect(): void {
    if (this.#running) return
    this.#running = true
    this.#lastError = undefined
    this.#attempt = 0
    this.#retryAt = 0
    this.#refreshStreak = 0
    this.#cycledAll = false
    this.#failures.clear()
    for (const entry of this.#channels.values()) entry.failed = undefined
    this.#subscribeOnline()
    this.#startTransport(0)
  }

  /** Closes the connection for good and rejects queued publishes with `closed`. */
  close(): void {
    this.#shutdown(undefined)
    this.#queue.rejectAll(new HoldfastError('closed', 'client closed'))
  }

  // ---- connection orchestration -------------------------------------------------------------

  #startTransport(index: number): void {
    this.#generation++
    this.#transport?.stop()
    this.#connected = false
    this.#transportIndex = index
    const name = this.#order[index]!
    const factory = this.#factories[name]!
    this.#connecting(name)
    this.#transport = factory(this.#context(this.#generation, name))
    this.#transport.start()
  }

  #context(generation: number, name: TransportName): TransportContext {
    const live = () => this.#running && this.#generation === generation
    return {
      baseUrl: this.#options.url,
      timers: this.#timers,
      now: this.#now,
      random: this.#random,
      webSocket: () => this.#resolveWebSocket(),
      fetch: () => this.#resolveFetch(),
      getToken: () => this.#tokens.get(),
      refreshToken: () => this.#tokens.fetch(),
      subscriptions: () => this.#subscriptionRequests(),
      waitToConnect: () => (live() ? this.#waitToConnect(generation, name) : Promise.resolve(false)),
      opened: (welcome) => {
        if (live()) this.#onOpened(name, welcome)
      },
      frame: (frame) => {
        if (live()) this.#onFrame(frame)
      },
      activity: () => {
        if (live()) this.#heartbeat?.activity()
      },
      closed: (info) => {
        if (live()) this.#onClosed(name, info)
      },
      error: (error) => {
        if (live()) this.#emit('error', error)
      },
      debug: (message, details) => this.#debug(`${name}: ${message}`, details),
    }
  }

  async #waitToConnect(generation: number, name: TransportName): Promise<boolean> {
    const retryAt = this.#retryAt
    this.#retryAt = 0
    const delay = retryAt - this.#now()
    if (delay > 0) {
      // Usually already the state scheduleRetry set: same nextRetryAt, so no second notification.
      this.#reconnecting(name, retryAt, this.#lastError)
      const go = await new Promise<boolean>((resolve) => {
        this.#wake = resolve
        this.#waitTimer.start(delay, () => resolve(true))
      })
      this.#wake = undefined
      if (!go || !this.#running || this.#generation !== generation) return false
    }
    this.#connecting(name)
    return true
  }

  #onOpened(name: TransportName, welcome?: Partial<WelcomeFrame>): void {
    this.#connected = true
    this.#everOpened.add(name)
    this.#failures.set(name, 0)
    this.#cycledAll = false
    this.#lastError = undefined
    this.stats.connects++
    if (typeof welcome?.maxMessageBytes === 'number') this.#maxMessageBytes = welcome.maxMessageBytes
    this.#setState({ status: 'connected', transport: name, connectedAt: this.#now() })
    this.#stableTimer.start(this.#backoff.stableAfterMs, () => {
      this.#attempt = 0
      this.#lastDelayMs = 0
      this.#refreshStreak = 0
    })
    if (this.#transport?.ping) this.#heartbeat?.start()
    this.#scheduleTokenRefresh()
    this.#scheduleProbe()
    this.#flushQueue()
  }

  #onClosed(name: TransportName, info: DisconnectInfo): void {
    const wasConnected = this.#connected
    this.#connected = false
    this.#heartbeat?.stop()
    this.#stableTimer.cancel()
    this.#tokenTimer.cancel()
    this.#probeTimer.cancel()
    this.#queue.markAllUnsent()
    this.#lastError = info.error
    this.#debug(`closed (${info.code ?? '-'}) ${info.error?.message ?? ''}`, info)
    if (info.error && (info.action === 'stop' || !wasConnected)) this.#emit('error', info.error)

    if (info.action === 'stop') {
      this.#shutdown(info.error ?? new HoldfastError('forbidden', 'server ended the session'))
      this.#queue.rejectAll(info.error ?? new HoldfastError('closed', 'connection closed by the server'))
      return
    }
    if (info.action === 'refresh') {
      this.#tokens.invalidate()
      this.#refreshStreak++
      // A token that is rejected twice in a row will not get better by retrying: stop (no auth loop).
      if (info.code === CloseCode.Unauthorized && this.#refreshStreak >= 2) {
        const error = info.error ?? new HoldfastError('unauthorized', 'token rejected')
        this.#shutdown(error)
        this.#queue.rejectAll(error)
        return
      }
      if (this.#refreshStreak <= 1) {
        this.#retryAt = 0
        this.#reconnecting(name, this.#now(), info.error)
        return
      }
    }
    if (!info.opened && this.#shouldFallBack(name)) {
      this.#fallBack()
      return
    }
    this.#scheduleRetry(name, info.retryAfterMs)
  }

  #scheduleRetry(name: TransportName, retryAfterMs: number | undefined): void {
    let delay = nextBackoffDelay(
      this.#backoff,
      this.#attempt,
      this.#lastDelayMs || this.#backoff.initialMs,
      this.#random,
    )
    this.#lastDelayMs = delay
    // A server hint is a floor, still jittered above so a restarted fleet is not hit in lockstep.
    if (retryAfterMs !== undefined && retryAfterMs > 0) delay += retryAfterMs
    this.#attempt++
    this.#retryAt = this.#now() + delay
    this.#reconnecting(name, this.#retryAt, this.#lastError)
  }

  #connecting(name: TransportName): void {
    this.#setState({ status: 'connecting', transport: name, attempt: this.#attempt })
  }

  #reconnecting(name: TransportName, nextRetryAt: number, error: HoldfastError | undefined): void {
    this.#setState({ status: 'reconnecting', transport: name, attempt: this.#attempt, nextRetryAt, error })
  }

  #shouldFallBack(name: TransportName): boolean {
    if (this.#order.length < 2) return false
    const failures = (this.#failures.get(name) ?? 0) + 1
    this.#failures.set(name, failures)
    const limit = this.#everOpened.has(name) ? (this.#options.fallback?.failuresBeforeFallback ?? 3) : 1
    return failures >= limit
  }

  #fallBack(): void {
    const from = this.#order[this.#transportIndex]!
    let next = this.#transportIndex + 1
    if (next >= this.#order.length) {
      // Every transport failed: start over from the best one, with backoff this time.
      next = 0
      this.#cycledAll = true
    }
    const to = this.#order[next]!
    this.#debug(`falling back from ${from} to ${to}`)
    this.#failures.set(to, 0)
    if (this.#cycledAll) {
      this.#startTransport(next)
      this.#scheduleRetry(to, undefined)
    } else {
      this.#retryAt = 0
      this.#startTransport(next)
    }
  }

  #scheduleProbe(): void {
    const interval = this.#options.fallback?.probeIntervalMs ?? 30_000
    if (this.#transportIndex === 0 || interval <= 0) return
    const delay = interval * (0.5 + this.#random())
    this.#probeTimer.start(delay, () => {
      if (!this.#connected || this.#transportIndex === 0) return
      // Move back up: the better transport resumes every channel from its cursor, so nothing is lost.
      this.#debug(`probing ${this.#order[0]} again`)
      this.#failures.set(this.#order[0]!, 0)
      this.#everOpened.delete(this.#order[0]!)
      this.#retryAt = 0
      this.#startTransport(0)
    })
  }

  #shutdown(error: HoldfastError | undefined): void {
    this.#running = false
    this.#connected = false
    this.#generation++
    this.#transport?.stop()
    this.#transport = undefined
    this.#heartbeat?.stop()
    for (const timer of [
      this.#waitTimer,
      this.#stableTimer,
      this.#tokenTimer,
      this.#probeTimer,
      this.#retryPublishTimer,
    ]) {
      timer.cancel()
    }
    this.#wake?.(false)
    this.#offOnline?.()
    this.#offOnline = undefined
    this.#setState({ status: 'closed', transport: this.#current.transport, error })
  }

  #subscribeOnline(): void {
    if (this.#offOnline || this.#options.onOnline === false) return
    this.#offOnline = (this.#options.onOnline ?? onlineOrVisible)(() => this.#onNetworkOnline())
  }

  #onNetworkOnline(): void {
    this.#debug('network online or page visible')
    if (this.#wake) {
      // Waiting out a backoff: the network is back, so try now.
      this.#waitTimer.cancel()
      this.#wake(true)
    } else if (this.#connected && this.#transport?.ping) {
      // The old socket may be dead after a network change or a sleep; find out fast. (HTTP transports
      // cannot ping; their idle timeout covers them, and a probe there would time out for nothing.)
      this.#heartbeat?.probe()
    }
  }

  // ---- frames -------------------------------------------------------------------------------

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'message':
        this.#deliver(frame)
        return
      case 'subscribed':
        this.#onSubscribed(frame)
        return
      case 'error': {
        const error = new HoldfastError(frame.code, frame.message, { retryAfterMs: frame.retryAfterMs })
        if (frame.code === 'token_expired') {
          this.#refreshTokenNow()
          return
        }
        const entry = frame.channel ? this.#channels.get(frame.channel) : undefined
        if (entry) {
          // The server refused this channel: stop asking for it until the app resubscribes or reconnects.
          entry.failed = error
          for (const listener of entry.listeners) this.#safely(() => listener.options.onError?.(error))
        }
        this.#emit('error', error)
        return
      }
      default:
    }
  }

  #deliver(frame: { channel: string; cursor: Cursor; data: unknown }): void {
    const entry = this.#channels.get(frame.channel)
    if (!entry) return
    // Parse the incoming cursor once; the last one stays parsed (hot path: every message).
    const position = parseCursor(frame.cursor)
    if (entry.cursor !== undefined) {
      if (entry.parsed?.cursor !== entry.cursor)
        entry.parsed = { cursor: entry.cursor, at: parseCursor(entry.cursor) }
      const last = entry.parsed.at
      if (position && last && position.epoch === last.epoch) {
        if ((position.major - last.major || position.minor - last.minor) <= 0) {
          this.stats.duplicatesDropped++
          return
        }
      }
    }
    entry.cursor = frame.cursor
    entry.parsed = { cursor: frame.cursor, at: position }
    this.stats.messagesDelivered++
    const message: Message = { channel: frame.channel, cursor: frame.cursor, data: frame.data }
    for (const listener of entry.listeners) listener.delivery.push(message)
  }

  #onSubscribed(frame: Pick<SubscribedFrame, 'channel' | 'epoch' | 'cursor' | 'recovered'>): void {
    const entry = this.#channels.get(frame.channel)
    if (!entry) return
    const asked = entry.asked
    entry.asked = undefined
    entry.head = frame.cursor
    const info = {
      channel: frame.channel,
      epoch: frame.epoch,
      cursor: frame.cursor,
      recovered: frame.recovered,
    }
    for (const listener of entry.listeners) this.#safely(() => listener.options.onSubscribed?.(info))
    if (frame.recovered || asked === undefined) return
    // History since `asked` is gone: start over from what the server has, and say so.
    entry.cursor = undefined
    this.stats.gaps++
    const gap: GapInfo = { channel: frame.channel, since: asked, epoch: frame.epoch, cursor: frame.cursor }
    for (const listener of entry.listeners) this.#safely(() => listener.options.onGap?.(gap))
    this.#emit('gap', gap)
  }

  #subscriptionRequests(): SubscriptionRequest[] {
    const out: SubscriptionRequest[] = []
    for (const entry of this.#channels.values()) {
      if (entry.failed) continue
      const since = entry.cursor ?? entry.head
      entry.asked = since
      out.push(since ? { channel: entry.channel, since } : { channel: entry.channel })
    }
    return out
  }

  // ---- tokens -------------------------------------------------------------------------------

  #scheduleTokenRefresh(): void {
    const refreshAt = this.#tokens.refreshAtMs
    if (refreshAt === undefined) return
    this.#tokenTimer.start(refreshAt - this.#now(), () => this.#refreshTokenNow())
  }

  #refreshTokenNow(): void {
    this.#tokens.fetch().then(
      (token) => {
        if (!this.#connected || !token) return
        this.#transport?.refreshToken(token)
        this.#scheduleTokenRefresh()
      },
      (error: unknown) => {
        this.#emit('error', HoldfastError.from(error, 'unauthorized'))
        // Keep the connection; try again shortly. If the token runs out the server closes with 4100.
        if (this.#connected) this.#tokenTimer.start(5000, () => this.#refreshTokenNow())
      },
    )
  }

  // ---- publishing ---------------------------------------------------------------------------

  #flushQueue(): void {
    const transport = this.#transport
    if (!this.#connected || !transport) return
    let inFlight = this.#queue.inFlightCount()
    for (const item of this.#queue.pending()) {
      if (inFlight >= transport.publishConcurrency) break
      item.inFlight = true
      inFlight++
      transport.publish({ channel: item.channel, data: item.data, key: item.key }).then(
        (result) => {
          this.#queue.remove(item)
          item.resolve(result)
          this.#flushQueue()
        },
        (error: unknown) => {
          const err = HoldfastError.from(error)
          if (err.retryable) {
            // Stays queued with the same key; the server drops the copy if the first one landed.
            item.inFlight = false
            // Still connected (an HTTP publish failed on its own): retry soon, jittered, without waiting for a reconnect.
            if (this.#connected) {
              const delay = err.retryAfterMs ?? this.#random() * this.#backoff.initialMs
              this.#retryPublishTimer.start(delay, () => this.#flushQueue())
            }
            return
          }
          this.#queue.remove(item)
          item.reject(err)
          this.#flushQueue()
        },
      )
    }
  }

  #scheduleQueueExpiry(): void {
    if (this.#queueTimer.pending) return
    const next = this.#queue.expire(this.#now())
    if (next !== undefined) this.#queueTimer.start(next - this.#now(), () => this.#scheduleQueueExpiry())
  }

  #newKey(): string {
    const uuid = globalThis.crypto?.randomUUID?.()
    if (uuid) return uuid
    this.#keyCounter++
    return `${this.#now().toString(36)}-${this.#keyCounter.toString(36)}-${Math.floor(this.#random() * 2 ** 48).toString(36)}`
  }

  // ---- plumbing -----------------------------------------------------------------------------

  #resolveWebSocket(): WebSocketConstructor {
    const Impl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!Impl) {
      throw new HoldfastError(
        'transport_unavailable',
        'no WebSocket implementation: pass createClient({ WebSocket }) (in Node: import WebSocket from "ws")',
      )
    }
    return withErrorListener(Impl)
  }

  #resolveFetch(): FetchFunction {
    const impl = this.#options.fetch ?? (globalThis.fetch?.bind(globalThis) as FetchFunction | undefined)
    if (!impl)
      throw new HoldfastError(
        'transport_unavailable',
        'no fetch implementation: pass createClient({ fetch })',
      )
    return impl
  }

  #setState(state: ConnectionState): void {
    if (sameState(this.#current, state)) return
    this.#current = state
    for (const fn of [...this.#stateListeners]) this.#safely(() => fn(state))
  }

  #emit<K extends keyof ClientEvents>(event: K, payload: ClientEvents[K]): void {
    for (const fn of [...this.#eventListeners[event]]) {
      try {
        ;(fn as (p: ClientEvents[K]) => void)(payload)
      } catch {
        // An error listener that throws must not break delivery.
      }
    }
  }

  #safely(fn: () => void): void {
    try {
      fn()
    } catch (error) {
      this.#emit('error', HoldfastError.from(error))
    }
  }

  #debug(message: string, details?: unknown): void {
    this.#log?.(message, details)
  }
}

/** The default `onOnline`: `online`, and `visibilitychange` to visible, where the environment has them. */
function onlineOrVisible(fn: () => void): () => void {
  const doc = (globalThis as { document?: Document }).document
  const onVisible = () => {
    if (doc?.visibilityState === 'visible') fn()
  }
  globalThis.addEventListener?.('online', fn)
  doc?.addEventListener?.('visibilitychange', onVisible)
  return () => {
    globalThis.removeEventListener?.('online', fn)
    doc?.removeEventListener?.('visibilitychange', onVisible)
  }
}

function checkChannel(channel: string): void {
  if (!isChannelName(channel)) {
    throw new HoldfastError(
      'invalid_channel',
      `"${String(channel).slice(0, 60)}" is not a channel name: use 1-200 characters of A-Z a-z 0-9 _ - . : @ / ~`,
    )
  }
}

const wrapped = new WeakMap<WebSocketConstructor, WebSocketConstructor>()

/**
 * Node's `ws` emits an `error` event with no listener attached when rws closes a socket that is
 * still connecting, which would crash the process. A no-op listener keeps it an ordinary close.
 */
function withErrorListener(Impl: WebSocketConstructor): WebSocketConstructor {
  const proto = Impl.prototype as { on?: unknown }
  if (typeof proto?.on !== 'function') return Impl
  let Safe = wrapped.get(Impl)
  if (!Safe) {
    Safe = class extends (Impl as new (url: string, protocols?: string | string[]) => WebSocket) {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols)
        const self = this as unknown as { on?: (event: string, fn: () => void) => void }
        if (typeof self.on === 'function') self.on('error', () => {})
      }
    } as WebSocketConstructor
    wrapped.set(Impl, Safe)
  }
  return Safe
}

function sameState(a: ConnectionState, b: ConnectionState): boolean {
  const ka = Object.keys(a) as (keyof ConnectionState)[]
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k])
}
