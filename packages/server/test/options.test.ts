import { describe, expect, it } from 'vitest'
import {
  createServer,
  HoldfastServerError,
  memoryBroker,
  type RedisBrokerOptions,
  redisBroker,
  type ServerOptions,
} from '../src/index'
import { SECRET } from './helpers/fixtures'

/** What `createServer(options)` threw, or undefined. */
function thrown(options: unknown): unknown {
  try {
    createServer(options as ServerOptions)
    return undefined
  } catch (error) {
    return error
  }
}

const fn = () => true

// Every option of ServerOptions, with a wrong value each: each must be refused with a typed error whose
// message names the option and says how to fix it. `fix` is a fragment of that advice.
const CASES: Array<[name: string, options: unknown, names: string, fix: RegExp]> = [
  ['options themselves', 'not an object', 'createServer options', /pass \{/],
  ['an unknown option', { histroy: {} }, 'histroy', /use one of: .*history/],
  ['auth not an object', { auth: 'secret' }, 'auth', /pass \{ secret/],
  [
    'auth.secret unset (README snippet without JWT_SECRET)',
    { auth: { secret: undefined } },
    'auth.secret',
    /JWT_SECRET.*omit `auth`/s,
  ],
  ['auth.secret empty', { auth: { secret: '' } }, 'auth.secret', /omit `auth`/],
  ['auth.secret short', { auth: { secret: 'S' } }, 'auth.secret', /openssl rand/],
  ['auth.secret a number', { auth: { secret: 42 } }, 'auth.secret', /string or a Uint8Array/],
  [
    'auth.expiryGraceMs',
    { auth: { secret: SECRET, expiryGraceMs: -1 } },
    'auth.expiryGraceMs',
    /default \(5000\)/,
  ],
  ['auth.issuer', { auth: { secret: SECRET, issuer: 7 } }, 'auth.issuer', /expected `iss`/],
  ['auth.audience', { auth: { secret: SECRET, audience: '' } }, 'auth.audience', /expected `aud`/],
  [
    'auth.clockToleranceSec',
    { auth: { secret: SECRET, clockToleranceSec: 'x' } },
    'auth.clockToleranceSec',
    /default/,
  ],
  [
    'auth.requireChannelsClaim',
    { auth: { secret: SECRET, requireChannelsClaim: 'yes' } },
    'auth.requireChannelsClaim',
    /true or false/,
  ],
  ['auth unknown key', { auth: { secret: SECRET, algorithm: 'RS256' } }, 'auth.algorithm', /use one of/],
  ['authorize', { authorize: true }, 'authorize', /\(user, channel, action\) => boolean/],
  ['authorizeConnection', { authorizeConnection: 'no' }, 'authorizeConnection', /\(user\) => boolean/],
  ['allowedOrigins not an array', { allowedOrigins: 'https://a.example' }, 'allowedOrigins', /\["https/],
  ['allowedOrigins entry', { allowedOrigins: ['app.example'] }, 'allowedOrigins', /https:\/\/host\[:port\]/],
  ['history', { history: { maxMessages: 1000 } }, 'history.maxMessages', /use one of: size/],
  ['history.size', { history: { size: 0 } }, 'history.size', /integer >= 1/],
  ['history.ttlMs', { history: { ttlMs: 0 } }, 'history.ttlMs', /default \(600000\)/],
  ['history.rememberIdle', { history: { rememberIdle: 1.5 } }, 'history.rememberIdle', /integer/],
  ['history.maxBytes', { history: { maxBytes: -1 } }, 'history.maxBytes', /default \(268435456\)/],
  ['history.maxChannels', { history: { maxChannels: 0 } }, 'history.maxChannels', /default \(100000\)/],
  ['idempotencyWindowMs', { idempotencyWindowMs: 0 }, 'idempotencyWindowMs', /default \(300000\)/],
  ['idempotencyMaxKeys', { idempotencyMaxKeys: 0 }, 'idempotencyMaxKeys', /default \(100000\)/],
  [
    'history with a broker',
    { broker: memoryBroker(), history: { size: 5 } },
    'history',
    /configure the broker/,
  ],
  ['limits', { limits: 5 }, 'limits', /pass \{/],
  ['limits unknown key', { limits: { maxConnections: 5 } }, 'limits.maxConnections', /use one of/],
  [
    'limits.maxMessageBytes',
    { limits: { maxMessageBytes: 0 } },
    'limits.maxMessageBytes',
    /default \(131072\)/,
  ],
  [
    'limits.sendBufferBytes',
    { limits: { sendBufferBytes: Number.NaN } },
    'limits.sendBufferBytes',
    /default/,
  ],
  [
    'limits.slowConsumer',
    { limits: { slowConsumer: 'block' } },
    'limits.slowConsumer',
    /'close', 'drop' or 'latest'/,
  ],
  [
    'limits.maxSubscriptionsPerConnection',
    { limits: { maxSubscriptionsPerConnection: 0 } },
    'limits.maxSubscriptionsPerConnection',
    /default \(100\)/,
  ],
  [
    'limits.pingIntervalMs',
    { limits: { pingIntervalMs: Number.POSITIVE_INFINITY } },
    'limits.pingIntervalMs',
    /default \(25000\)/,
  ],
  [
    'limits.handshakeTimeoutMs',
    { limits: { handshakeTimeoutMs: '10s' } },
    'limits.handshakeTimeoutMs',
    /default \(10000\)/,
  ],
  [
    'limits.connectionRate',
    { limits: { connectionRate: { burst: 5 } } },
    'limits.connectionRate.perSecond',
    /is required/,
  ],
  [
    'limits.connectionRate.burst',
    { limits: { connectionRate: { perSecond: 5, burst: 0.5 } } },
    'limits.connectionRate.burst',
    />= 1/,
  ],
  [
    'limits.connectionRate.maxRetryAfterMs',
    { limits: { connectionRate: { perSecond: 5, maxRetryAfterMs: 0 } } },
    'limits.connectionRate.maxRetryAfterMs',
    /default/,
  ],
  [
    'limits.authFailureRate',
    { limits: { authFailureRate: true } },
    'limits.authFailureRate',
    /pass \{ perSecond/,
  ],
  [
    'limits.publishRate',
    { limits: { publishRate: { perSecond: 0 } } },
    'limits.publishRate.perSecond',
    /> 0/,
  ],
  [
    'limits.publishRatePerClient',
    { limits: { publishRatePerClient: { perSecond: 10, rate: 1 } } },
    'limits.publishRatePerClient.rate',
    /use one of/,
  ],
  [
    'limits.maxConnectionsPerAddress',
    { limits: { maxConnectionsPerAddress: 0 } },
    'limits.maxConnectionsPerAddress',
    /integer >= 1/,
  ],
  ['sse.heartbeatMs', { sse: { heartbeatMs: 0 } }, 'sse.heartbeatMs', /default \(15000\)/],
  ['sse.retryMs', { sse: { retryMs: -5 } }, 'sse.retryMs', /default \(1000\)/],
  ['poll.timeoutMs', { poll: { timeoutMs: -1 } }, 'poll.timeoutMs', /default \(25000\)/],
  // Past what a timer can wait, setTimeout fires at once: a poll would return at once, forever.
  [
    'poll.timeoutMs too long for a timer',
    { poll: { timeoutMs: 2 ** 31 } },
    'poll.timeoutMs',
    /<= 2147483647/,
  ],
  [
    'sse.heartbeatMs too long for a timer',
    { sse: { heartbeatMs: 1e12 } },
    'sse.heartbeatMs',
    /<= 2147483647/,
  ],
  [
    'limits.pingIntervalMs too long for a timer',
    { limits: { pingIntervalMs: 2 ** 31 } },
    'limits.pingIntervalMs',
    /<= 2147483647/,
  ],
  [
    'limits.handshakeTimeoutMs too long for a timer',
    { limits: { handshakeTimeoutMs: 2 ** 31 } },
    'limits.handshakeTimeoutMs',
    /<= 2147483647/,
  ],
  [
    'auth.expiryGraceMs too long for a timer',
    { auth: { secret: SECRET, expiryGraceMs: 2 ** 31 } },
    'auth.expiryGraceMs',
    /<= 2147483647/,
  ],
  // A retry hint every client obeys: 1e12 ms would park them for 11,574 days.
  ['sse.retryMs past an hour', { sse: { retryMs: 1e12 } }, 'sse.retryMs', /<= 3600000/],
  ['poll.maxMessages', { poll: { maxMessages: 0.5 } }, 'poll.maxMessages', /default \(500\)/],
  ['http.headersTimeoutMs', { http: { headersTimeoutMs: 0 } }, 'http.headersTimeoutMs', /default \(10000\)/],
  [
    'http.requestTimeoutMs',
    { http: { requestTimeoutMs: 'x' } },
    'http.requestTimeoutMs',
    /default \(30000\)/,
  ],
  [
    'http.keepAliveTimeoutMs',
    { http: { keepAliveTimeoutMs: -1 } },
    'http.keepAliveTimeoutMs',
    /default \(5000\)/,
  ],
  [
    'http headers slower than the request',
    { http: { headersTimeoutMs: 60_000, requestTimeoutMs: 30_000 } },
    'http.headersTimeoutMs',
    /at most http.requestTimeoutMs/,
  ],
  ['broker', { broker: { publish() {} } }, 'broker', /memoryBroker\(\)/],
  ['metrics', { metrics: 'on' }, 'metrics', /pass \{/],
  ['metrics.registry', { metrics: { registry: {} } }, 'metrics.registry', /prom-client Registry/],
  ['metrics.prefix', { metrics: { prefix: 'hold fast' } }, 'metrics.prefix', /letters, digits/],
  ['metrics.defaultMetrics', { metrics: { defaultMetrics: 1 } }, 'metrics.defaultMetrics', /true or false/],
  ['metrics.bearerToken', { metrics: { bearerToken: 'short' } }, 'metrics.bearerToken', /openssl rand/],
  ['staticDir', { staticDir: 42 }, 'staticDir', /directory of a built site/],
  ['basePath', { basePath: 'holdfast' }, 'basePath', /"\/holdfast"/],
  ['basePath not a string', { basePath: 1 }, 'basePath', /"\/holdfast"/],
  ['clientAddress', { clientAddress: 'x-forwarded-for' }, 'clientAddress', /\(req\) => string/],
  ['logger', { logger: console.log }, 'logger', /pino logger/],
  ['clock', { clock: Date }, 'clock', /systemClock/],
  ['random', { random: 0.5 }, 'random', /\[0, 1\)/],
]

// Every option of RedisBrokerOptions, with a wrong value each, checked as the table above. The cases that
// connect nowhere: the broker throws before it opens a connection.
const ONE = 'redis://127.0.0.1:1'
const NODES = ['127.0.0.1:7000']
const REDIS_CASES: Array<[name: string, options: unknown, names: string, fix: RegExp]> = [
  ['options themselves', 'redis://127.0.0.1:6379', 'redisBroker options', /pass \{ url, cluster/],
  ['an unknown option', { url: ONE, prefix: 'x:' }, 'prefix', /use one of: .*keyPrefix/],
  ['url unset (REDIS_URL not set)', { url: undefined }, 'redisBroker url', /is REDIS_URL set\?.*cluster/],
  ['url not a Redis URL', { url: 'http://127.0.0.1:6379' }, 'redisBroker url', /redis:\/\/127\.0\.0\.1:6379/],
  ['url and cluster both', { url: ONE, cluster: NODES }, 'redisBroker url', /either a url .* not both/],
  ['cluster not an array', { cluster: '127.0.0.1:7000' }, 'redisBroker cluster', /\['127\.0\.0\.1:7000'/],
  ['cluster empty', { cluster: [] }, 'redisBroker cluster', /at least one node.*others are discovered/],
  ['cluster entry without a port', { cluster: ['127.0.0.1:x'] }, 'redisBroker cluster', /use host:port/],
  [
    'cluster entry a URL with a bad port (password not echoed)',
    { cluster: ['redis://:pw-secret@127.0.0.1:99999'] },
    'redisBroker cluster',
    /use host:port, or redis\[s\]:\/\//,
  ],
  [
    'cluster entry an object without a port',
    { cluster: [{ host: '127.0.0.1' }] },
    'redisBroker cluster',
    /port from 1 to 65535/,
  ],
  ['cluster entry a number', { cluster: [7000] }, 'redisBroker cluster', /"host:port" strings/],
  ['clusterOptions with url', { url: ONE, clusterOptions: {} }, 'clusterOptions', /as redisOptions/],
  [
    'clusterOptions not an object',
    { cluster: NODES, clusterOptions: 1 },
    'clusterOptions',
    /Cluster options/,
  ],
  [
    'redisOptions with cluster',
    { cluster: NODES, redisOptions: {} },
    'redisOptions',
    /clusterOptions: \{ redisOptions \}/,
  ],
  ['redisOptions not an object', { url: ONE, redisOptions: 'tls' }, 'redisOptions', /ioredis options/],
  ['keyPrefix', { url: ONE, keyPrefix: '{x}' }, 'keyPrefix', /hash tags/],
  ['history.size', { url: ONE, history: { size: 0 } }, 'history.size', /integer >= 1/],
  ['history.ttlMs', { cluster: NODES, history: { ttlMs: 0.5 } }, 'history.ttlMs', /default \(600000\)/],
  ['idempotencyWindowMs', { url: ONE, idempotencyWindowMs: -1 }, 'idempotencyWindowMs', /default \(300000\)/],
  [
    'waitForReplicas.replicas',
    { cluster: NODES, waitForReplicas: { replicas: 0, timeoutMs: 50 } },
    'waitForReplicas.replicas',
    /integer >= 1.*\{ replicas: 1, timeoutMs: 100 \}/,
  ],
  [
    'waitForReplicas.timeoutMs',
    { url: ONE, waitForReplicas: { replicas: 1 } },
    'waitForReplicas.timeoutMs',
    /got undefined.*omit it to not wait/,
  ],
  ['waitForReplicas not an object', { url: ONE, waitForReplicas: 1 }, 'waitForReplicas', /pass \{ replicas/],
  [
    'waitForReplicas unknown key',
    { url: ONE, waitForReplicas: { replicas: 1, timeoutMs: 50, timeout: 50 } },
    'waitForReplicas.timeout',
    /use one of: replicas, timeoutMs/,
  ],
  ['generateEpoch', { url: ONE, generateEpoch: 'e1' }, 'generateEpoch', /\(\) => string/],
  ['logger', { url: ONE, logger: console.log }, 'logger', /pino logger/],
  ['clock', { url: ONE, clock: Date }, 'clock', /systemClock/],
]

describe('createServer options', () => {
  it.each(CASES)(
    'refuses %s with a HoldfastServerError that names the option and says how to fix it',
    (_, options, names, fix) => {
      const error = thrown(options)
      expect(error).toBeInstanceOf(HoldfastServerError)
      const { code, message } = error as HoldfastServerError
      expect(code).toBe('bad_request')
      expect(message.startsWith(`[holdfast] ${names} `)).toBe(true)
      expect(message).toMatch(fix)
    },
  )

  it('covers every option of ServerOptions in the table above', () => {
    const covered = new Set(
      CASES.flatMap(([, options]) => (typeof options === 'object' && options ? Object.keys(options) : [])),
    )
    const all: Array<keyof ServerOptions> = [
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
      'broker',
      'metrics',
      'staticDir',
      'basePath',
      'clientAddress',
      'logger',
      'clock',
      'random',
    ]
    expect(all.filter((name) => !covered.has(name))).toEqual([])
  })

  it('accepts every option with a sensible value', async () => {
    const server = createServer({
      auth: {
        secret: SECRET,
        expiryGraceMs: 1000,
        issuer: 'i',
        audience: 'a',
        clockToleranceSec: 1,
        requireChannelsClaim: true,
      },
      authorize: fn,
      authorizeConnection: fn,
      allowedOrigins: ['https://app.example', '*'],
      history: { size: 10, ttlMs: 1000, rememberIdle: 0, maxBytes: 2 ** 20, maxChannels: 10 },
      idempotencyWindowMs: 1000,
      idempotencyMaxKeys: 10,
      limits: {
        maxMessageBytes: 1024,
        sendBufferBytes: 4096,
        slowConsumer: () => 'drop',
        maxSubscriptionsPerConnection: 5,
        pingIntervalMs: 1000,
        handshakeTimeoutMs: 1000,
        connectionRate: { perSecond: 10, burst: 20, maxRetryAfterMs: 1000 },
        authFailureRate: false,
        publishRate: { perSecond: 1 },
        publishRatePerClient: false,
        maxConnectionsPerAddress: 10,
      },
      sse: { heartbeatMs: 1000, retryMs: 0 },
      poll: { timeoutMs: 1000, maxMessages: 10 },
      http: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 1000 },
      metrics: { prefix: 'app_', defaultMetrics: false, bearerToken: 'a-long-enough-token' },
      staticDir: '.',
      basePath: '/rt/',
      clientAddress: (req) => req.socket.remoteAddress ?? '',
      random: Math.random,
    })
    await server.close()
  })

  it.each(REDIS_CASES)(
    'refuses redisBroker %s with a HoldfastServerError that names the option and says how to fix it',
    (_, options, names, fix) => {
      let error: unknown
      try {
        redisBroker(options as RedisBrokerOptions)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(HoldfastServerError)
      const { code, message } = error as HoldfastServerError
      expect(code).toBe('bad_request')
      expect(message.startsWith(`[holdfast] ${names} `)).toBe(true)
      expect(message).toMatch(fix)
      expect(message).not.toContain('pw-secret')
    },
  )

  it('covers every option of RedisBrokerOptions in the redisBroker table', () => {
    const covered = new Set(
      REDIS_CASES.flatMap(([, options]) =>
        typeof options === 'object' && options ? Object.keys(options) : [],
      ),
    )
    const all: Array<keyof RedisBrokerOptions> = [
      'url',
      'cluster',
      'clusterOptions',
      'keyPrefix',
      'history',
      'idempotencyWindowMs',
      'waitForReplicas',
      'redisOptions',
      'generateEpoch',
      'logger',
      'clock',
    ]
    expect(all.filter((name) => !covered.has(name))).toEqual([])
  })

  it('checks the brokers’ own options the same way', () => {
    expect(() => memoryBroker({ history: { size: 0 } })).toThrow(HoldfastServerError)
    expect(() => memoryBroker({ history: { size: 0 } })).toThrow(/history.size must be an integer >= 1/)
    expect(() => redisBroker({ url: undefined as unknown as string })).toThrow(/is REDIS_URL set\?/)
    expect(() => redisBroker({ url: 'redis://127.0.0.1:1', keyPrefix: '{x}' })).toThrow(HoldfastServerError)
  })
})
