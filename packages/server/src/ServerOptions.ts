import type { AuthOptions, AuthUser } from './auth/createAuthenticator'
import type { Broker } from './broker/Broker'
import type { HistoryOptions } from './broker/memoryBroker'
import type { Clock } from './Clock'
import type { Logger } from './Logger'
import type { ConnectionRateOptions } from './limits/ConnectionAdmission'
import type { MetricsOptions } from './metrics/ServerMetrics'

/** What a caller wants to do with a channel. */
export type ChannelAction = 'subscribe' | 'publish'

/**
 * Decides whether `user` may `action` on `channel`. May be async. `user` is `null` when the server runs open.
 * Throwing counts as an internal error, not as a refusal.
 */
export type AuthorizeHook = (
  user: AuthUser,
  channel: string,
  action: ChannelAction,
) => boolean | Promise<boolean>

/**
 * What happens to a live message for a connection whose unsent data would pass `sendBufferBytes`:
 * - `'close'`: close the connection (WebSocket `4001`, SSE stream cut); the client resumes from history,
 *   so nothing is lost, only delayed.
 * - `'drop'`: skip the message for this connection. The client never sees it and is not told.
 * - `'latest'`: keep only the newest message of the channel and send it as soon as there is room
 *   (prices, presence, positions: anything where only the current value matters).
 */
export type SlowConsumerPolicy = 'close' | 'drop' | 'latest'

export interface LimitOptions {
  /** Largest accepted frame or `/publish` body, in bytes. Defaults to 131072 (128 KiB). */
  maxMessageBytes?: number
  /**
   * Unsent bytes a connection may hold before `slowConsumer` applies. Defaults to 524288 (512 KiB).
   * Replies and heartbeats may use twice this before the connection is closed whatever the policy.
   */
  sendBufferBytes?: number
  /**
   * Policy for live messages that would pass `sendBufferBytes`, for the whole server or per channel
   * (`(channel) => policy`, asked once per subscription). Long polls are paged from history at the
   * client's own pace (each answer at most `sendBufferBytes`), so no policy applies to them.
   * Defaults to `'close'`.
   */
  slowConsumer?: SlowConsumerPolicy | ((channel: string) => SlowConsumerPolicy)
  /** Channels one WebSocket or one SSE stream may follow. Defaults to 100. */
  maxSubscriptionsPerConnection?: number
  /** Interval of WebSocket protocol pings; a peer that missed the previous one is terminated. Defaults to 25000. */
  pingIntervalMs?: number
  /** Time a new WebSocket has to send `connect`. Defaults to 10000. */
  handshakeTimeoutMs?: number
  /**
   * Admits new connections through a token bucket, so a reconnect storm is spread out instead of taking
   * the server down. Past it a WebSocket is accepted and closed at once with `4003` and
   * `{"retryAfterMs":n}`, an SSE stream or a new long poll gets `429` with `Retry-After`. Each refused
   * client gets its own later slot. Polls that continue a session (a cursor for every channel) are not
   * new connections. Defaults to no limit.
   */
  connectionRate?: ConnectionRateOptions
}

export interface SseOptions {
  /** Interval of `: hb <time>` comments. Defaults to 15000. */
  heartbeatMs?: number
  /** The `retry:` the stream starts with: the least delay before a browser reconnects. Defaults to 1000. */
  retryMs?: number
}

export interface PollOptions {
  /** Longest a poll is held, and the cap on a request's `timeoutMs`. Defaults to 25000. */
  timeoutMs?: number
  /** Most messages in one answer; the rest come with the next poll. Defaults to 500. */
  maxMessages?: number
}

export interface ServerOptions {
  /** Verify HS256 JWTs. Without it the server runs open: fine for development, never for production. */
  auth?: AuthOptions
  /** Called before every subscribe and publish. Defaults to allowing everything. */
  authorize?: AuthorizeHook
  /** Called once per WebSocket after its token is verified; false closes it with 4403. Defaults to allowing. */
  authorizeConnection?: (user: AuthUser) => boolean | Promise<boolean>
  /**
   * Origins allowed to open WebSockets and call the HTTP endpoints from a browser: exact origins such as
   * `https://app.example.com`, or `'*'` for any. Defaults to requests without an `Origin` header and
   * requests whose origin is the server's own host.
   */
  allowedOrigins?: readonly string[]
  /** History of the default in-memory broker. Ignored when `broker` is given (configure that broker instead). */
  history?: HistoryOptions
  /** How long `/publish` and WebSocket idempotency keys are remembered by the default broker. Defaults to 300000. */
  idempotencyWindowMs?: number
  limits?: LimitOptions
  sse?: SseOptions
  poll?: PollOptions
  /**
   * Where channel logs live. Defaults to `memoryBroker({ history })`, which the server closes on `close()`.
   * A broker passed in is not closed by the server.
   */
  broker?: Broker
  /**
   * Prometheus metrics at `GET <basePath>/metrics`, in a registry of this server's own (read it from
   * `server.metrics`). `false` turns them and the endpoint off. Defaults to on.
   */
  metrics?: MetricsOptions | false
  /** Serve this directory (with `index.html` as fallback) for every other GET, so an app can be served same-origin. */
  staticDir?: string
  /** Path prefix of every endpoint, e.g. `/holdfast`. Defaults to '' (endpoints at the root). */
  basePath?: string
  /** Defaults to silent. */
  logger?: Logger
  /** Time source for expiry, heartbeats and timeouts. Defaults to the system clock. */
  clock?: Clock
  /** Source of randomness for spreading reconnects. Defaults to `Math.random`. */
  random?: () => number
}

export interface ResolvedOptions {
  auth: AuthOptions | undefined
  expiryGraceMs: number
  authorize: AuthorizeHook
  authorizeConnection: (user: AuthUser) => boolean | Promise<boolean>
  allowedOrigins: readonly string[] | undefined
  maxMessageBytes: number
  sendBufferBytes: number
  slowConsumer: (channel: string) => SlowConsumerPolicy
  maxSubscriptionsPerConnection: number
  pingIntervalMs: number
  handshakeTimeoutMs: number
  connectionRate: ConnectionRateOptions | undefined
  sseHeartbeatMs: number
  sseRetryMs: number
  pollTimeoutMs: number
  pollMaxMessages: number
  staticDir: string | undefined
  basePath: string
  metricsToken: string | undefined
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0))
    throw new RangeError(`[holdfast] ${name} must be a positive number, got ${String(value)}`)
  return v
}

const POLICIES: readonly SlowConsumerPolicy[] = ['close', 'drop', 'latest']

function resolveSlowConsumer(option: LimitOptions['slowConsumer']): (channel: string) => SlowConsumerPolicy {
  if (option === undefined) return () => 'close'
  if (typeof option === 'function')
    return (channel) => {
      const policy = option(channel)
      // An unknown answer is treated as the safe default: the client resumes from history.
      return POLICIES.includes(policy) ? policy : 'close'
    }
  if (!POLICIES.includes(option))
    throw new TypeError(
      `[holdfast] limits.slowConsumer must be 'close', 'drop' or 'latest', got ${String(option)}`,
    )
  return () => option
}

export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const limits = options.limits ?? {}
  let basePath = options.basePath ?? ''
  if (basePath.endsWith('/')) basePath = basePath.slice(0, -1)
  if (basePath !== '' && !basePath.startsWith('/'))
    throw new TypeError(`[holdfast] basePath must start with "/", got "${options.basePath}"`)
  for (const origin of options.allowedOrigins ?? []) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin))
      throw new TypeError(
        `[holdfast] allowedOrigins entry "${origin}" is not an origin; use "https://host[:port]" without a path, or "*"`,
      )
  }
  const metricsToken = options.metrics ? options.metrics.bearerToken : undefined
  if (metricsToken !== undefined && (typeof metricsToken !== 'string' || metricsToken.length < 16))
    throw new TypeError('[holdfast] metrics.bearerToken must be a string of at least 16 characters')
  return {
    auth: options.auth,
    expiryGraceMs: positive('auth.expiryGraceMs', options.auth?.expiryGraceMs, 5000),
    authorize: options.authorize ?? (() => true),
    authorizeConnection: options.authorizeConnection ?? (() => true),
    allowedOrigins: options.allowedOrigins,
    maxMessageBytes: positive('limits.maxMessageBytes', limits.maxMessageBytes, 128 * 1024),
    sendBufferBytes: positive('limits.sendBufferBytes', limits.sendBufferBytes, 512 * 1024),
    slowConsumer: resolveSlowConsumer(limits.slowConsumer),
    maxSubscriptionsPerConnection: positive(
      'limits.maxSubscriptionsPerConnection',
      limits.maxSubscriptionsPerConnection,
      100,
    ),
    pingIntervalMs: positive('limits.pingIntervalMs', limits.pingIntervalMs, 25_000),
    handshakeTimeoutMs: positive('limits.handshakeTimeoutMs', limits.handshakeTimeoutMs, 10_000),
    connectionRate: limits.connectionRate,
    sseHeartbeatMs: positive('sse.heartbeatMs', options.sse?.heartbeatMs, 15_000),
    sseRetryMs: positive('sse.retryMs', options.sse?.retryMs, 1000),
    pollTimeoutMs: positive('poll.timeoutMs', options.poll?.timeoutMs, 25_000),
    pollMaxMessages: positive('poll.maxMessages', options.poll?.maxMessages, 500),
    staticDir: options.staticDir,
    basePath,
    metricsToken,
  }
}
