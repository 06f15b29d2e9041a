import { type Cursor, isChannelName, type ServerFrame } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import type {
  FetchFunction,
  Transport,
  TransportFactory,
  TransportName,
  WebSocketConstructor,
} from '../transports/Transport'
import { ChannelRegistry, type ClientStats, type Listener } from './ChannelRegistry'
import { ConnectionMachine, type FallbackOptions } from './ConnectionMachine'
import { checkOptions } from './checkOptions'
import { Heartbeat, type HeartbeatOptions } from './Heartbeat'
import { Publisher, type PublishQueueOptions, type PublishResult } from './Publisher'
import { type BackoffOptions, createRetryPolicy } from './RetryPolicy'
import { type GetToken, TokenManager } from './TokenManager'
import { globalTimers, systemClock, Timer, type Timers } from './timers'
import type { ClientEvents, ConnectionState, GapInfo, Message, SubscribedInfo, Subscription } from './types'

/** Options of `createClient`. Only `url` is required. */
export interface ClientOptions {
  /** Server base URL, e.g. `https://rt.example.com`; `/ws`, `/sse`, `/poll`, `/publish` are derived from it. */
  url: string
  /** Returns the current access token (a JWT). Called single-flight, before `exp` and after a token error. */
  getToken?: GetToken
  /** Transports in order of preference. Defaults to every transport this entry ships, best first. */
  transports?: TransportName[]
  /** WebSocket class (in Node: `ws`'s default export). Defaults to `globalThis.WebSocket`, read at connect time. */
  WebSocket?: WebSocketConstructor
  /** fetch implementation. Defaults to `globalThis.fetch`, read at call time. */
  fetch?: FetchFunction
  /** Reconnect delays. Defaults to full jitter, 500 ms base, 30 s cap. */
  backoff?: BackoffOptions
  /** Client heartbeat on the WebSocket. Defaults to `{ intervalMs: 20000, timeoutMs: 10000 }`; `false` turns it off. */
  heartbeat?: HeartbeatOptions | false
  /** Bounds of the queue of unacknowledged publishes. */
  queue?: PublishQueueOptions
  /** Refresh the token this long (ms) before its `exp`. Defaults to 30000. */
  tokenRefreshMarginMs?: number
  /**
   * A `getToken()` call not settled within this long (ms) failed with `timeout`: the attempt backs off and the
   * next one calls `getToken()` again. Defaults to 10000. Not a finite number > 0: `createClient` throws `bad_request`.
   */
  tokenTimeoutMs?: number
  /** Fallback between transports and moving back up. */
  fallback?: FallbackOptions
  /** A connection attempt that is not up within this long (ms) failed: WebSocket welcome, SSE first event. Defaults to 3000. */
  openTimeoutMs?: number
  /** SSE: a stream silent (not even heartbeats) this long (ms) is dead. Defaults to 45000. */
  idleTimeoutMs?: number
  /** Long polling: how long (ms) the server may hold a poll. Defaults to 25000. */
  holdMs?: number
  /**
   * Connect on the first `subscribe` or `publish` instead of at once. Defaults to `false` in a browser page
   * and `true` elsewhere, so a client created while rendering on a server never connects by itself.
   */
  lazy?: boolean
  /**
   * Calls `fn` whenever the network may be back; returns an unsubscribe. Defaults to the window's `online`
   * event and the page becoming visible again (a laptop waking, a tab brought back), where they exist.
   */
  onOnline?: ((fn: () => void) => () => void) | false
  /** Timer functions. Defaults to the global ones, read at call time (so fake timers work). */
  timers?: Timers
  /** Wall clock in ms since epoch. Defaults to `Date.now`. */
  now?: () => number
  /** Uniform random number in [0, 1). Defaults to `Math.random`. */
  random?: () => number
  /** Debug log sink; `true` logs to `console.debug`. Off by default and free when off. */
  debug?: boolean | ((message: string, details?: unknown) => void)
}

/** What a delivery policy gets from the client: the timers, and a way to report a failed subscriber. */
export interface DeliveryEnv {
  timers: Timers
  /** Reports a failure of this subscriber (handler threw, slow consumer); `fatal` unsubscribes it. */
  fail(error: HoldfastError, fatal: boolean): void
}

/** How messages reach one subscriber: see `@holdfast/client/delivery` (`buffer`, `latest`, `coalesce`). */
export type DeliveryPolicy<TData = unknown> = (
  handler: (message: Message<TData>) => unknown,
  env: DeliveryEnv,
) => { push(message: Message<TData>): void; close(): void }

export interface SubscribeOptions<TData = unknown> {
  /** Resume after this cursor: everything newer is replayed first. Applies when the channel is first subscribed. */
  since?: Cursor
  /** Called when history since the cursor could not be replayed in full. */
  onGap?: (gap: GapInfo) => void
  /** Called when the server refuses this channel (for example `forbidden`) or the subscriber fails. */
  onError?: (error: HoldfastError) => void
  /** Called each time the server confirms the subscription (after every (re)connect). */
  onSubscribed?: (info: SubscribedInfo) => void
  /**
   * How messages reach this subscriber. Defaults to calling the handler in order as each message arrives
   * (a rejected promise is reported, not awaited). For backpressure, pass a policy from
   * `@holdfast/client/delivery`: `buffer()`, `latest()` or `coalesce(key)`.
   */
  delivery?: DeliveryPolicy<TData>
}

export interface PublishOptions {
  /** Idempotency key; the server stores a key once per window. Defaults to a random key, kept across resends. */
  key?: string
}

/** Client events, and the state changes that `onStateChange` listens to. */
type Events = ClientEvents & { state: ConnectionState }

/** The transport-agnostic client. Create it with `createClient`. */
export class HoldfastClient {
  readonly #listeners: { [K in keyof Events]: Set<(e: Events[K]) => void> } = {
    state: new Set(),
    gap: new Set(),
    error: new Set(),
  }
  /** Counters for tests and dashboards. */
  readonly stats: ClientStats = {
    messagesDelivered: 0,
    duplicatesDropped: 0,
    gaps: 0,
    connects: 0,
    transportSwitches: 0,
  }
  readonly #registry = new ChannelRegistry(this.stats, (fn) => this.#safely(fn))
  readonly #publisher: Publisher
  readonly #tokens: TokenManager
  readonly #machine: ConnectionMachine
  readonly #heartbeat: Heartbeat | undefined
  readonly #tokenTimer: Timer
  readonly #options: ClientOptions
  readonly #timers: Timers
  readonly #now: () => number
  readonly #random: () => number
  readonly #lazy: boolean
  #maxMessageBytes = 128 * 1024
  #offOnline: (() => void) | undefined
  #closedByApp = false
  #syncing = false

  constructor(options: ClientOptions, factories: Partial<Record<TransportName, TransportFactory>>) {
    if (!/^(https?|wss?):\/\//.test(options?.url))
      throw new HoldfastError(
        'bad_request',
        `createClient needs an absolute http(s) url, got ${options?.url}`,
      )
    checkOptions(options)
    const available = Object.keys(factories) as TransportName[]
    const order = options.transports ?? available
    for (const name of order[0] ? order : [undefined])
      if (!factories[name!])
        throw new HoldfastError(
          'bad_request',
          `unknown transport "${name}"; this build has ${available.join(', ')}`,
        )
    const timers = options.timers ?? globalTimers
    const now = options.now ?? systemClock
    const random = options.random ?? Math.random
    this.#timers = timers
    this.#now = now
    this.#random = random
    this.#options = options
    this.#lazy = options.lazy ?? !(globalThis as { document?: unknown }).document
    this.#publisher = new Publisher(options.queue, timers, now, {
      transport: () => this.#connected(),
      blocked: () => this.#registry.blocks(),
      retryMs: () => random() * (options.backoff?.initialMs ?? 500),
    })
    this.#tokens = new TokenManager(
      options.getToken,
      now,
      options.tokenRefreshMarginMs ?? 30_000,
      timers,
      options.tokenTimeoutMs ?? 10_000,
    )
    this.#tokenTimer = new Timer(timers)
    const { heartbeat } = options
    if (heartbeat !== false) {
      const timeoutMs = heartbeat?.timeoutMs ?? 10_000
      this.#heartbeat = new Heartbeat(
        { intervalMs: heartbeat?.intervalMs ?? 20_000, timeoutMs },
        timers,
        now,
        () => this.#machine.transport?.ping?.(),
        () =>
          this.#machine.drop({
            opened: true,
            error: new HoldfastError(
              'timeout',
              `no answer to a ping within ${timeoutMs} ms: the connection is dead`,
            ),
          }),
      )
    }
    this.#machine = new ConnectionMachine(
      order,
      createRetryPolicy(options.backoff, random),
      options.fallback ?? {},
      timers,
      now,
      random,
      {
        create: (name) => this.#create(factories[name]!),
        connected: (transport, welcome) => {
          this.stats.connects++
          this.#maxMessageBytes = welcome?.maxMessageBytes ?? this.#maxMessageBytes
          if (transport.ping) this.#heartbeat?.start()
          this.#scheduleTokenRefresh()
          this.#registry.sync(transport)
          this.#publisher.flush()
        },
        disconnected: (error, wasConnected) => {
          // The server forgets a connection's subscriptions: ask for every channel again on the next one.
          this.#registry.reset()
          this.#heartbeat?.stop()
          this.#tokenTimer.cancel()
          this.#publisher.unsent()
          // A connection that never came up is reported here; a drop shows in the reconnecting state.
          if (!wasConnected && error) this.#report(error)
        },
        invalidateToken: () => this.#tokens.invalidate(),
        state: (state) => {
          this.stats.transportSwitches = this.#machine.switches
          if (state.status === 'closed' && state.error) {
            this.#publisher.rejectAll(state.error)
            this.#report(state.error)
          }
          this.#emit('state', state)
        },
        debug: (message, details) => this.#debug(message, details),
      },
    )
    if (!this.#lazy) this.connect()
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this.#machine.state
  }

  /** Calls `fn` on every state change; returns an unsubscribe function. */
  onStateChange(fn: (state: ConnectionState) => void): () => void {
    return this.on('state' as keyof ClientEvents, fn as never)
  }

  /** Listens to client-wide events: `gap` (history lost on a channel) and `error`. Returns an unsubscribe. */
  on<K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void): () => void {
    const set = this.#listeners[event] as Set<typeof fn>
    set.add(fn)
    return () => set.delete(fn)
  }

  /**
   * Receives every message on `channel` from the point where the server first answers this subscription
   * (or from `options.since`): a publish this client makes after this call is always delivered here, and
   * what others publish before the server first hears of it (every transport still failing) is not. Several subscriptions to one channel share one network subscription. After any
   * reconnect or transport switch the client resumes from the last cursor: nothing lost, nothing
   * duplicated, order kept. Throws `invalid_channel` or `bad_request` for bad arguments.
   */
  subscribe<TData = unknown>(
    channel: string,
    handler: (message: Message<TData>) => unknown,
    options: SubscribeOptions<TData> = {},
  ): Subscription {
    checkChannel(channel)
    if (typeof handler !== 'function')
      throw new HoldfastError('bad_request', 'subscribe needs a handler function')
    let active = true
    const delivery = (options.delivery ?? (direct as DeliveryPolicy<TData>))(handler, {
      timers: this.#timers,
      fail: (error, fatal) => {
        if (fatal) unsubscribe()
        this.#safely(() => options.onError?.(error))
        this.#report(error)
      },
    })
    const listener: Listener = { ...(options as Listener), push: delivery.push as Listener['push'] }
    const entry = this.#registry.add(channel, listener, options.since)
    const unsubscribe = () => {
      if (!active) return
      active = false
      delivery.close()
      this.#registry.remove(entry, listener)
      this.#sync()
    }
    this.#sync()
    return {
      channel,
      get cursor() {
        return entry.cursor
      },
      unsubscribe,
    }
  }

  /**
   * Publishes `data` (JSON) to `channel`; resolves with the stored cursor once the server stored it. It
   * reaches the server after the subscriptions this client asked for before it. While disconnected it waits
   * in a bounded queue. Rejects with `queue_full`, `message_too_large`, `bad_request`, `closed` or `timeout`.
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    checkChannel(channel)
    if (!this.#machine.running && (this.#closedByApp || this.#failed() || !this.#lazy))
      throw new HoldfastError('closed', 'client is closed; call connect() first')
    let json: string | undefined
    try {
      json = JSON.stringify(data)
    } catch {}
    if (json === undefined) throw new HoldfastError('bad_request', 'publish data must be JSON-serialisable')
    const bytes = new TextEncoder().encode(json).length
    if (bytes > this.#maxMessageBytes)
      throw new HoldfastError(
        'message_too_large',
        `message is ${bytes} bytes; the server accepts at most ${this.#maxMessageBytes}`,
      )
    // A full queue throws inside the executor, which rejects this promise.
    return new Promise<PublishResult>((resolve, reject) => {
      this.#publisher.add({
        channel,
        data,
        key: options.key ?? globalThis.crypto?.randomUUID?.() ?? `${this.#now()}-${this.#random()}`,
        bytes,
        resolve,
        reject,
      })
      this.#sync()
    })
  }

  /** Starts (or restarts after `close()` or a terminal error) connecting. */
  connect(): void {
    this.#closedByApp = false
    if (this.#machine.running) return
    const { onOnline } = this.#options
    if (onOnline !== false) this.#offOnline ??= (onOnline ?? onlineOrVisible)(() => this.#wake())
    this.#machine.start()
  }

  /** Closes the connection for good, rejects queued publishes with `closed`, and releases every timer and listener. */
  close(): void {
    this.#closedByApp = true
    this.#machine.stop()
    // A getToken() call still pending is not waited for: connect() asks anew.
    this.#tokens.abandon()
    this.#offOnline?.()
    this.#offOnline = undefined
    this.#publisher.rejectAll(new HoldfastError('closed', 'client closed'))
  }

  #create(factory: TransportFactory): Transport {
    const options = this.#options
    const machine = this.#machine
    // Reports of a replaced transport, or of a probe before it is promoted, are ignored.
    const current = () => machine.transport === transport
    const transport: Transport = factory({
      url: options.url,
      timers: this.#timers,
      now: this.#now,
      webSocket: () =>
        options.WebSocket ??
        (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ??
        unavailable('WebSocket', 'createClient({ WebSocket }) (in Node: import WebSocket from "ws")'),
      fetch: () =>
        options.fetch ??
        globalThis.fetch?.bind(globalThis) ??
        unavailable('fetch', 'createClient({ fetch })'),
      token: (fresh) => (fresh ? this.#tokens.fetch() : this.#tokens.get()),
      subscriptions: () => this.#registry.requests(!current()),
      opened: (welcome) => machine.opened(transport, welcome),
      frame: (frame) => current() && this.#frame(frame),
      anchor: (channel, cursor) => {
        if (current()) {
          this.#registry.anchor(channel, cursor)
          this.#publisher.flush()
        }
      },
      activity: () => current() && this.#heartbeat?.activity(),
      closed: (disconnect) => machine.closed(transport, disconnect),
      error: (error) => current() && this.#report(error),
    })
    return transport
  }

  #frame(frame: ServerFrame): void {
    if (frame.type === 'message') this.#registry.deliver(frame)
    else if (frame.type === 'subscribed') {
      const gap = this.#registry.subscribed(frame)
      if (gap) this.#emit('gap', gap)
      this.#publisher.flush()
    } else if (frame.type === 'error') {
      const { channel, code, message } = frame
      const error = new HoldfastError(code, message, { retryAfterMs: frame.retryAfterMs })
      if (!channel && code === 'token_expired') this.#refreshToken()
      // The server refused a new token in place: reconnect with a fresh one (twice in a row stops).
      else if (!channel && code === 'unauthorized')
        this.#machine.drop({ opened: true, code: 4101, reason: message }) // CloseCode.Unauthorized
      else {
        // A refused channel is not asked for again until the app subscribes again.
        if (channel) this.#registry.refused(channel, error)
        this.#report(error)
        this.#publisher.flush()
      }
    }
  }

  /** Coalesces subscribe/unsubscribe/publish bursts (React StrictMode mounts twice) into one network update. */
  #sync(): void {
    if (!this.#machine.running && this.#lazy && !this.#closedByApp && !this.#failed()) this.connect()
    if (this.#syncing) return
    this.#syncing = true
    queueMicrotask(() => {
      this.#syncing = false
      const transport = this.#connected()
      if (transport) this.#registry.sync(transport)
      this.#publisher.flush()
    })
  }

  /** Stopped by a terminal error (not by `close()`): only `connect()` starts again. */
  #failed(): boolean {
    return !!(this.state as { error?: unknown }).error
  }

  #connected(): Transport | undefined {
    return this.state.status === 'connected' ? this.#machine.transport : undefined
  }

  #scheduleTokenRefresh(): void {
    const at = this.#tokens.refreshAtMs
    if (at !== undefined) this.#tokenTimer.start(at - this.#now(), () => this.#refreshToken())
  }

  /** Refreshes the token in place (WebSocket `auth`; HTTP transports reopen with it). */
  #refreshToken(): void {
    const old = this.#tokens.token
    this.#tokens.fetch().then(
      (token) => {
        const transport = this.#connected()
        if (transport && token) {
          // The same token again is not sent: an HTTP transport would reopen for nothing.
          if (token !== old) transport.auth?.(token)
          this.#scheduleTokenRefresh()
        }
      },
      (error: unknown) => {
        this.#report(error)
        // Keep the connection and try again shortly; if the token runs out, the server closes with 4100.
        if (this.#connected()) this.#tokenTimer.start(5000, () => this.#refreshToken())
      },
    )
  }

  #wake(): void {
    // Waiting out a backoff: try now. Connected: the socket may be dead after a sleep, so find out fast
    // (HTTP transports cannot ping; their own timeouts cover them).
    if (!this.#machine.wake() && this.#connected()?.ping) this.#heartbeat?.probe()
  }

  #report(error: unknown): void {
    this.#emit('error', HoldfastError.from(error))
  }

  /** Calls every listener of `event`; one that throws is reported as an `error` (and never stops the others). */
  #emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const fn of [...this.#listeners[event]]) this.#safely(() => fn(payload), event)
  }

  #safely(fn: () => void, event?: keyof Events): void {
    try {
      fn()
    } catch (error) {
      // An error listener that throws is not reported again (that would loop).
      if (event !== 'error') this.#report(error)
    }
  }

  #debug(message: string, details?: unknown): void {
    const sink = this.#options.debug
    if (sink === true) console.debug(`[holdfast] ${message}`, details ?? '')
    else if (sink) sink(message, details)
  }
}

function unavailable(what: string, pass: string): never {
  throw new HoldfastError('transport_unavailable', `no ${what} implementation: pass ${pass}`)
}

/** The default delivery: the handler, in order, as each message arrives; a throw or rejection is reported. */
const direct: DeliveryPolicy = (handler, env) => ({
  push(message) {
    try {
      const result = handler(message) as PromiseLike<unknown> | undefined
      result?.then?.(undefined, (error: unknown) => env.fail(HoldfastError.from(error), false))
    } catch (error) {
      env.fail(HoldfastError.from(error), false)
    }
  },
  close() {},
})

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
  if (!isChannelName(channel))
    throw new HoldfastError(
      'invalid_channel',
      `"${String(channel).slice(0, 60)}" is not a channel name: use 1-200 characters of A-Z a-z 0-9 _ - . : @ / ~`,
    )
}
