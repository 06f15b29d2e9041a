import type { IncomingMessage } from 'node:http'
import { authorizeByChannelsClaim } from './auth/channelsClaim'
import type { AuthOptions, AuthUser } from './auth/createAuthenticator'
import type { Broker } from './broker/Broker'
import type { HistoryOptions } from './broker/memoryBroker'
import { type Clock, MAX_TIMER_DELAY_MS } from './Clock'
import type { Logger } from './Logger'
import type { ConnectionRateOptions } from './limits/ConnectionAdmission'
import type { RateOptions } from './limits/RateLimiter'
import type { MetricsOptions } from './metrics/ServerMetrics'
import {
  booleanOption,
  describe,
  functionOption,
  methodsOption,
  numberOption,
  objectOption,
  optionError,
  stringOption,
} from './options/check'

/** The longest retry hint a server hands its clients (`sse.retryMs`): an hour. */
const MAX_RETRY_HINT_MS = 3_600_000

/**
 * What a caller wants to do with a channel. `presence` is asked for the channel itself (never its
 * `~presence` names) before a client watches who is in it or enters it (PROTOCOL.md §8).
 */
export type ChannelAction = 'subscribe' | 'publish' | 'presence'

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
   * Admits new connections at a steady pace (one every `1000 / perSecond` ms, never more than `perSecond`
   * in any second, from the first second after a start), so a reconnect storm is spread out instead of
   * taking the server down. Only connections that passed authentication (and `authorizeConnection`) take from
   * it: strangers and bad tokens never spend the budget of real users. Past it a WebSocket is closed
   * with `4003` and `{"retryAfterMs":n}`, an SSE stream or a new long poll gets `429` with `Retry-After`.
   * Each refused client gets its own later slot. Polls that continue a session (a cursor for every
   * channel) are not new connections. Defaults to no limit.
   */
  connectionRate?: ConnectionRateOptions
  /**
   * Failed authentications (missing, invalid or expired tokens) allowed per client address, counted on
   * their own: past it such requests are answered `rate_limited` (HTTP `429` with `Retry-After`,
   * WebSocket close `4003` with `{"retryAfterMs":n}`) instead of `401`. A valid token is never refused
   * by it, whoever else shares the address. `false` turns it off. Defaults to `{ perSecond: 2, burst: 20 }`.
   */
  authFailureRate?: RateOptions | false
  /**
   * Publishes per WebSocket connection. Past it a publish is answered with an `error` frame
   * (`rate_limited`, with `retryAfterMs`) and not stored. `false` turns it off. Defaults to
   * `{ perSecond: 1000, burst: 2000 }`: a client may publish in bursts, but one connection cannot flood the
   * server (an unlimited one reached 30,000 a second); lower it to what your app really sends.
   */
  publishRate?: RateOptions | false
  /**
   * Publishes per client over every connection and `POST /publish` together: per user (the token's `sub`)
   * when authenticated, else per client address. Past it WebSocket answers `rate_limited` with
   * `retryAfterMs`, HTTP `429` with `Retry-After`. `server.publish()` from the backend is never limited.
   * `false` turns it off. Defaults to `{ perSecond: 2000, burst: 4000 }`.
   */
  publishRatePerClient?: RateOptions | false
  /**
   * Open connections allowed per client address (WebSockets, SSE streams and held polls together). Past
   * it a new one is refused like `connectionRate` refuses. Defaults to no cap: behind a proxy every
   * client has the proxy's address unless `clientAddress` reads the forwarded one.
   */
  maxConnectionsPerAddress?: number
}

export interface SseOptions {
  /** Interval of `: hb <time>` comments. Defaults to 15000. */
  heartbeatMs?: number
  /**
   * The `retry:` the stream starts with: the least delay before a browser reconnects. Defaults to 1000; at
   * most 3,600,000 (an hour: a hint every client obeys must not park them for days).
   */
  retryMs?: number
}

export interface PollOptions {
  /** Longest a poll is held, and the cap on a request's `timeoutMs`. Defaults to 25000. */
  timeoutMs?: number
  /** Most messages in one answer; the rest come with the next poll. Defaults to 500. */
  maxMessages?: number
}

/** Who is in a channel (PROTOCOL.md §8): how long members last without their connection, and bounds. */
export interface PresenceOptions {
  /**
   * How long a member whose connection went away (a closed WebSocket or SSE stream, a long poll not renewed)
   * stays present: a client back within it emits no leave and no join. Defaults to 15000.
   */
  graceMs?: number
  /**
   * A member held by a WebSocket is refreshed by its server every `ttlMs / 3`; when that server dies its
   * members leave within `ttlMs` (and one sweep interval). Defaults to 30000.
   */
  ttlMs?: number
  /**
   * An SSE stream cannot tell its server that its client vanished (a lost network keeps it open until TCP
   * gives up, minutes later), so an SSE member is kept by its client's touches (`{"touch":true}` published
   * to its enter channel, every 30 s from `@holdfast/client/presence`) and leaves this long after the last
   * one. Long enough for a background tab whose timers run once a minute. Defaults to 120000.
   */
  sseTtlMs?: number
  /** Members (connections) one channel may hold; past it a client's enter is refused (`too_many_subscriptions`). Defaults to 1000. */
  maxMembers?: number
  /** Largest `info` a member may carry, as UTF-8 JSON bytes (`message_too_large` past it). Defaults to 1024. */
  maxInfoBytes?: number
  /**
   * Most members a snapshot lists (its `count` always says how many there are). A snapshot is sent in
   * pages of at most 64 KiB. Defaults to 1000.
   */
  snapshotLimit?: number
  /** How often this server looks for members whose time ran out, in the channels it serves. Defaults to 1000. */
  sweepIntervalMs?: number
}

export interface HttpOptions {
  /**
   * Time a client has to send a request's headers; then the socket is closed (slowloris). Defaults to 10000.
   */
  headersTimeoutMs?: number
  /**
   * Time a client has to send a whole request, body included; SSE streams and held polls are responses and
   * are not cut by it. Defaults to 30000.
   */
  requestTimeoutMs?: number
  /** How long an idle keep-alive connection stays open between requests. Defaults to 5000. */
  keepAliveTimeoutMs?: number
}

export interface ServerOptions {
  /**
   * Verify HS256 JWTs. Without it the server runs open: fine for development, never for production.
   * `auth: { secret: undefined }` (an unset environment variable) is refused with a message, not run open.
   */
  auth?: AuthOptions
  /**
   * Called before every subscribe and publish, and again for every live subscription when a WebSocket
   * swaps its token. Defaults to `authorizeByChannelsClaim()`: a token's `channels` claim, when present,
   * says which channels it may use (see `AuthOptions.requireChannelsClaim`); without the claim, everything.
   */
  authorize?: AuthorizeHook
  /** Called once per WebSocket after its token is verified; false closes it with 4403. Defaults to allowing. */
  authorizeConnection?: (user: AuthUser) => boolean | Promise<boolean>
  /**
   * Origins allowed to open WebSockets and call the HTTP endpoints from a browser: exact origins such as
   * `https://app.example.com`, or `'*'` for any. Defaults to requests without an `Origin` header and
   * requests whose origin is the server's own host; a server without `auth` trusts its own host only under
   * a loopback name (`localhost`, `127.0.0.1`, `[::1]`), so a DNS-rebinding page cannot use it.
   */
  allowedOrigins?: readonly string[]
  /** History of the default in-memory broker. Ignored when `broker` is given (configure that broker instead). */
  history?: HistoryOptions
  /** How long `/publish` and WebSocket idempotency keys are remembered by the default broker. Defaults to 300000. */
  idempotencyWindowMs?: number
  /**
   * Most idempotency keys the default broker remembers; past it the oldest are forgotten first (a key is at
   * most 200 characters and its channel name at most 200, so the table stays within about 1 KiB per key).
   * Defaults to 100000.
   */
  idempotencyMaxKeys?: number
  limits?: LimitOptions
  sse?: SseOptions
  poll?: PollOptions
  /** Timeouts of the HTTP server that `listen()` creates (an attached server keeps its own settings). */
  http?: HttpOptions
  /** Presence: grace and liveness of members, and the bounds on members, info and snapshots. */
  presence?: PresenceOptions
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
  /**
   * The client address that per-address limits count (`limits.authFailureRate`, anonymous
   * `limits.publishRatePerClient`, `limits.maxConnectionsPerAddress`). Defaults to the socket's remote
   * address. Behind a proxy, return the address your proxy puts in `X-Forwarded-For` (the last entry it
   * appended), or every client counts as the proxy.
   */
  clientAddress?: (req: IncomingMessage) => string
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
  authFailureRate: RateOptions | undefined
  publishRate: RateOptions | undefined
  publishRatePerClient: RateOptions | undefined
  maxConnectionsPerAddress: number | undefined
  sseHeartbeatMs: number
  sseRetryMs: number
  pollTimeoutMs: number
  pollMaxMessages: number
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  staticDir: string | undefined
  basePath: string
  clientAddress: (req: IncomingMessage) => string
  metricsToken: string | undefined
  presence: Required<PresenceOptions>
}

const POLICIES: readonly SlowConsumerPolicy[] = ['close', 'drop', 'latest']

function resolveSlowConsumer(option: unknown): (channel: string) => SlowConsumerPolicy {
  if (option === undefined) return () => 'close'
  if (typeof option === 'function')
    return (channel) => {
      const policy = option(channel)
      // An unknown answer is treated as the safe default: the client resumes from history.
      return POLICIES.includes(policy) ? policy : 'close'
    }
  if (!POLICIES.includes(option as SlowConsumerPolicy))
    throw optionError(
      'limits.slowConsumer',
      `must be 'close', 'drop' or 'latest' (or a function of the channel), got ${describe(option)}`,
      "omit it for the default ('close')",
    )
  return () => option as SlowConsumerPolicy
}

/** A rate option: `{ perSecond, burst? }`, `false` (off) or undefined (the default). */
export function resolveRate(
  path: string,
  value: unknown,
  fallback: RateOptions | undefined,
): RateOptions | undefined {
  if (value === undefined) return fallback
  if (value === false) return undefined
  const o = objectOption(path, value, ['perSecond', 'burst'])
  if (o.perSecond === undefined)
    throw optionError(
      `${path}.perSecond`,
      'is required',
      `pass { perSecond: n }, or false to turn the limit off`,
    )
  const perSecond = numberOption(`${path}.perSecond`, o.perSecond, 1)
  const burst = numberOption(`${path}.burst`, o.burst, perSecond, { min: 1 })
  return { perSecond, burst }
}

function resolveAuth(value: unknown): AuthOptions | undefined {
  if (value === undefined) return undefined
  const o = objectOption('auth', value, [
    'secret',
    'expiryGraceMs',
    'issuer',
    'audience',
    'clockToleranceSec',
    'requireChannelsClaim',
  ])
  const { secret } = o
  if (secret === undefined || secret === null || secret === '')
    throw optionError(
      'auth.secret',
      `is ${secret === '' ? 'empty' : String(secret)} (is the environment variable you read it from, e.g. JWT_SECRET, set?)`,
      'set it to the HS256 secret that signs your tokens, or omit `auth` altogether to run open in development',
    )
  const bytes =
    typeof secret === 'string'
      ? Buffer.byteLength(secret)
      : secret instanceof Uint8Array
        ? secret.byteLength
        : undefined
  if (bytes === undefined)
    throw optionError(
      'auth.secret',
      `must be a string or a Uint8Array, got ${describe(secret)}`,
      'pass the HS256 secret',
    )
  if (bytes < 32)
    throw optionError(
      'auth.secret',
      `is ${bytes} bytes; HS256 needs at least 32 (RFC 7518 section 3.2)`,
      'use a longer secret, e.g. from `openssl rand -base64 32`',
    )
  stringOption('auth.issuer', o.issuer, 'pass the expected `iss`, or omit it')
  stringOption('auth.audience', o.audience, 'pass the expected `aud`, or omit it')
  numberOption('auth.clockToleranceSec', o.clockToleranceSec, 0, { min: 0 })
  booleanOption('auth.requireChannelsClaim', o.requireChannelsClaim, false)
  return value as AuthOptions
}

function resolveMetricsToken(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined
  const o = objectOption('metrics', value, ['registry', 'prefix', 'defaultMetrics', 'bearerToken'])
  methodsOption('metrics.registry', o.registry, ['registerMetric', 'metrics'], 'pass a prom-client Registry')
  if (
    o.prefix !== undefined &&
    !(typeof o.prefix === 'string' && /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(o.prefix))
  )
    throw optionError(
      'metrics.prefix',
      `must be a Prometheus name prefix, got ${describe(o.prefix)}`,
      'use letters, digits, "_" and ":", e.g. "holdfast_"',
    )
  booleanOption('metrics.defaultMetrics', o.defaultMetrics, false)
  const token = o.bearerToken
  if (token !== undefined && (typeof token !== 'string' || token.length < 16))
    throw optionError(
      'metrics.bearerToken',
      'must be a string of at least 16 characters',
      'use a long random token, e.g. from `openssl rand -hex 16`',
    )
  return token as string | undefined
}

/** The history options of the default broker; `memoryBroker` checks the values. */
const HISTORY_KEYS = ['size', 'ttlMs', 'rememberIdle', 'maxBytes', 'maxChannels'] as const

const SERVER_KEYS = [
  'auth',
  'authorize',
  'authorizeConnection',
  'allowedOrigins',
  'history',
  'idempotencyWindowMs',
  'idempotencyMaxKeys',
  'limits',
  'sse',
  'poll',
  'http',
  'presence',
  'broker',
  'metrics',
  'staticDir',
  'basePath',
  'clientAddress',
  'logger',
  'clock',
  'random',
] as const

const LIMIT_KEYS = [
  'maxMessageBytes',
  'sendBufferBytes',
  'slowConsumer',
  'maxSubscriptionsPerConnection',
  'pingIntervalMs',
  'handshakeTimeoutMs',
  'connectionRate',
  'authFailureRate',
  'publishRate',
  'publishRatePerClient',
  'maxConnectionsPerAddress',
] as const

export const DEFAULT_AUTH_FAILURE_RATE: RateOptions = { perSecond: 2, burst: 20 }
export const DEFAULT_PUBLISH_RATE: RateOptions = { perSecond: 1000, burst: 2000 }
export const DEFAULT_PUBLISH_RATE_PER_CLIENT: RateOptions = { perSecond: 2000, burst: 4000 }

/** The default `clientAddress`: the socket's remote address. */
export const socketAddress = (req: IncomingMessage): string => req.socket.remoteAddress ?? 'unknown'

/**
 * Checks every option and fills in the defaults. Anything wrong throws a `HoldfastServerError` that names
 * the option and says how to fix it.
 */
export function resolveOptions(input: unknown): ResolvedOptions {
  const options = objectOption('createServer options', input, SERVER_KEYS) as ServerOptions
  const auth = resolveAuth(options.auth)
  const limits = objectOption('limits', options.limits, LIMIT_KEYS) as LimitOptions
  const sse = objectOption('sse', options.sse, ['heartbeatMs', 'retryMs']) as SseOptions
  const poll = objectOption('poll', options.poll, ['timeoutMs', 'maxMessages']) as PollOptions
  const http = objectOption('http', options.http, [
    'headersTimeoutMs',
    'requestTimeoutMs',
    'keepAliveTimeoutMs',
  ]) as HttpOptions
  objectOption('history', options.history, HISTORY_KEYS)
  const presence = resolvePresence(options.presence)
  numberOption('idempotencyWindowMs', options.idempotencyWindowMs, 300_000, { integer: true, min: 1 })
  numberOption('idempotencyMaxKeys', options.idempotencyMaxKeys, 100_000, { integer: true, min: 1 })
  if (
    options.broker !== undefined &&
    (options.history !== undefined ||
      options.idempotencyWindowMs !== undefined ||
      options.idempotencyMaxKeys !== undefined)
  )
    throw optionError(
      options.history !== undefined ? 'history' : 'idempotencyWindowMs',
      'configures the default broker, but a broker was passed',
      'configure the broker you pass instead (e.g. redisBroker({ history }))',
    )
  methodsOption(
    'broker',
    options.broker,
    ['publish', 'read', 'subscribe', 'onResync', 'close'],
    'pass memoryBroker() or redisBroker({ url })',
  )
  methodsOption(
    'logger',
    options.logger,
    ['debug', 'info', 'warn', 'error'],
    'pass a pino logger or { debug, info, warn, error }',
  )
  methodsOption(
    'clock',
    options.clock,
    ['now', 'setTimeout', 'clearTimeout'],
    'pass systemClock or a test clock',
  )
  functionOption('random', options.random, 'a function returning a number in [0, 1)')
  const authorize = functionOption<AuthorizeHook>(
    'authorize',
    options.authorize,
    '(user, channel, action) => boolean',
  )
  const authorizeConnection = functionOption<ResolvedOptions['authorizeConnection']>(
    'authorizeConnection',
    options.authorizeConnection,
    '(user) => boolean',
  )
  const clientAddress = functionOption<ResolvedOptions['clientAddress']>(
    'clientAddress',
    options.clientAddress,
    '(req) => string',
  )

  let basePath = options.basePath ?? ''
  if (typeof basePath !== 'string')
    throw optionError(
      'basePath',
      `must be a string, got ${describe(basePath)}`,
      'use a path such as "/holdfast"',
    )
  if (basePath.endsWith('/')) basePath = basePath.slice(0, -1)
  if (basePath !== '' && !/^\/[\w\-./~]*$/.test(basePath))
    throw optionError(
      'basePath',
      `must start with "/" and be a plain path, got ${describe(options.basePath)}`,
      'use a path such as "/holdfast"',
    )
  if (options.allowedOrigins !== undefined && !Array.isArray(options.allowedOrigins))
    throw optionError(
      'allowedOrigins',
      `must be an array, got ${describe(options.allowedOrigins)}`,
      'pass ["https://app.example.com"]',
    )
  for (const origin of options.allowedOrigins ?? []) {
    if (origin !== '*' && !(typeof origin === 'string' && /^https?:\/\/[^/\s]+$/.test(origin)))
      throw optionError(
        'allowedOrigins',
        `entry ${describe(origin)} is not an origin`,
        'use "https://host[:port]" without a path, or "*"',
      )
  }
  stringOption('staticDir', options.staticDir, 'pass the directory of a built site')
  const metricsToken = resolveMetricsToken(options.metrics)
  const headersTimeoutMs = numberOption('http.headersTimeoutMs', http.headersTimeoutMs, 10_000)
  const requestTimeoutMs = numberOption('http.requestTimeoutMs', http.requestTimeoutMs, 30_000)
  if (headersTimeoutMs > requestTimeoutMs)
    throw optionError(
      'http.headersTimeoutMs',
      `(${headersTimeoutMs}) must be at most http.requestTimeoutMs (${requestTimeoutMs})`,
      'the headers are part of the request; raise requestTimeoutMs or lower headersTimeoutMs',
    )
  const connectionRate =
    limits.connectionRate === undefined
      ? undefined
      : (() => {
          const o = objectOption('limits.connectionRate', limits.connectionRate, [
            'perSecond',
            'burst',
            'maxRetryAfterMs',
          ])
          const rate = resolveRate(
            'limits.connectionRate',
            { perSecond: o.perSecond, ...(o.burst === undefined ? {} : { burst: o.burst }) },
            undefined,
          )!
          const maxRetryAfterMs = numberOption(
            'limits.connectionRate.maxRetryAfterMs',
            o.maxRetryAfterMs,
            30_000,
          )
          // An omitted burst keeps ConnectionAdmission's own default (a tenth of the rate), not the rate.
          return {
            perSecond: rate.perSecond,
            ...(o.burst === undefined ? {} : { burst: rate.burst }),
            maxRetryAfterMs,
          }
        })()
  return {
    auth,
    expiryGraceMs: numberOption('auth.expiryGraceMs', auth?.expiryGraceMs, 5000, { max: MAX_TIMER_DELAY_MS }),
    authorize: authorize ?? authorizeByChannelsClaim({ required: auth?.requireChannelsClaim === true }),
    authorizeConnection: authorizeConnection ?? (() => true),
    allowedOrigins: options.allowedOrigins,
    maxMessageBytes: numberOption('limits.maxMessageBytes', limits.maxMessageBytes, 128 * 1024, {
      integer: true,
      min: 1,
    }),
    sendBufferBytes: numberOption('limits.sendBufferBytes', limits.sendBufferBytes, 512 * 1024, {
      integer: true,
      min: 1,
    }),
    slowConsumer: resolveSlowConsumer(limits.slowConsumer),
    maxSubscriptionsPerConnection: numberOption(
      'limits.maxSubscriptionsPerConnection',
      limits.maxSubscriptionsPerConnection,
      100,
      { integer: true, min: 1 },
    ),
    pingIntervalMs: numberOption('limits.pingIntervalMs', limits.pingIntervalMs, 25_000, {
      max: MAX_TIMER_DELAY_MS,
    }),
    handshakeTimeoutMs: numberOption('limits.handshakeTimeoutMs', limits.handshakeTimeoutMs, 10_000, {
      max: MAX_TIMER_DELAY_MS,
    }),
    connectionRate,
    authFailureRate: resolveRate('limits.authFailureRate', limits.authFailureRate, DEFAULT_AUTH_FAILURE_RATE),
    publishRate: resolveRate('limits.publishRate', limits.publishRate, DEFAULT_PUBLISH_RATE),
    publishRatePerClient: resolveRate(
      'limits.publishRatePerClient',
      limits.publishRatePerClient,
      DEFAULT_PUBLISH_RATE_PER_CLIENT,
    ),
    maxConnectionsPerAddress:
      limits.maxConnectionsPerAddress === undefined
        ? undefined
        : numberOption('limits.maxConnectionsPerAddress', limits.maxConnectionsPerAddress, 0, {
            integer: true,
            min: 1,
          }),
    sseHeartbeatMs: numberOption('sse.heartbeatMs', sse.heartbeatMs, 15_000, { max: MAX_TIMER_DELAY_MS }),
    sseRetryMs: numberOption('sse.retryMs', sse.retryMs, 1000, {
      integer: true,
      min: 0,
      max: MAX_RETRY_HINT_MS,
    }),
    pollTimeoutMs: numberOption('poll.timeoutMs', poll.timeoutMs, 25_000, { max: MAX_TIMER_DELAY_MS }),
    pollMaxMessages: numberOption('poll.maxMessages', poll.maxMessages, 500, { integer: true, min: 1 }),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: numberOption('http.keepAliveTimeoutMs', http.keepAliveTimeoutMs, 5000),
    staticDir: options.staticDir,
    basePath,
    clientAddress: clientAddress ?? socketAddress,
    metricsToken,
    presence,
  }
}

function resolvePresence(value: unknown): Required<PresenceOptions> {
  const o = objectOption('presence', value, [
    'graceMs',
    'ttlMs',
    'sseTtlMs',
    'maxMembers',
    'maxInfoBytes',
    'snapshotLimit',
    'sweepIntervalMs',
  ]) as PresenceOptions
  const int = { integer: true, min: 1 }
  const ttlMs = numberOption('presence.ttlMs', o.ttlMs, 30_000, { integer: true, min: 30 })
  return {
    graceMs: numberOption('presence.graceMs', o.graceMs, 15_000, { integer: true, min: 0 }),
    ttlMs,
    sseTtlMs: numberOption('presence.sseTtlMs', o.sseTtlMs, 120_000, int),
    maxMembers: numberOption('presence.maxMembers', o.maxMembers, 1000, int),
    maxInfoBytes: numberOption('presence.maxInfoBytes', o.maxInfoBytes, 1024, { integer: true, min: 4 }),
    snapshotLimit: numberOption('presence.snapshotLimit', o.snapshotLimit, 1000, {
      integer: true,
      min: 0,
      max: 100_000,
    }),
    sweepIntervalMs: numberOption('presence.sweepIntervalMs', o.sweepIntervalMs, 1000, int),
  }
}
