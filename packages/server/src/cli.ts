#!/usr/bin/env node
import type { IncomingMessage } from 'node:http'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import pino from 'pino'
import {
  parseClusterNodes,
  type RedisBroker,
  redactClusterNodes,
  redactRedisUrl,
  redisBroker,
} from './broker/redisBroker'
import { createServer } from './createServer'
import type { RateOptions } from './limits/RateLimiter'
import {
  DEFAULT_AUTH_FAILURE_RATE,
  DEFAULT_PUBLISH_RATE,
  DEFAULT_PUBLISH_RATE_PER_CLIENT,
  type LimitOptions,
  type ServerOptions,
} from './ServerOptions'

function integer(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value))
      throw new InvalidArgumentError(`--${flag} must be a non-negative integer, got "${value}"`)
    return Number(value)
  }
}

/** `N` (per second, burst N), `N/B` (burst B) or `off`. */
function rate(flag: string) {
  return (value: string): RateOptions | false => {
    if (value === 'off') return false
    const match = /^(\d+(?:\.\d+)?)(?:\/(\d+))?$/.exec(value)
    const perSecond = Number(match?.[1])
    if (!match || !(perSecond > 0))
      throw new InvalidArgumentError(`--${flag} must be N (per second), N/BURST or off, got "${value}"`)
    return { perSecond, burst: match[2] === undefined ? perSecond : Number(match[2]) }
  }
}

const showRate = (r: RateOptions) => `${r.perSecond}/${r.burst}`

/** With --trust-proxy: the address the proxy appended last to X-Forwarded-For (the one it saw). */
function forwardedAddress(req: IncomingMessage): string {
  const header = req.headers['x-forwarded-for']
  const last = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').pop()?.trim()
  return last || req.socket.remoteAddress || 'unknown'
}

function program(): Command {
  return new Command('holdfast-server')
    .description('The Holdfast reference server: WebSocket, SSE and long polling over resumable channels.')
    .addOption(
      new Option('--port <n>', 'port to listen on; 0 picks a free one')
        .env('PORT')
        .default(8080)
        .argParser(integer('port')),
    )
    .option(
      '--host <h>',
      'interface to bind (default: every interface with --secret; 127.0.0.1 when running open)',
    )
    .addOption(
      new Option(
        '--secret <s>',
        'HS256 secret for JWTs, at least 32 bytes (the environment keeps it out of ps)',
      ).env('HOLDFAST_SECRET'),
    )
    .option('--require-channels-claim', 'refuse every channel to tokens without a "channels" claim', false)
    .option('--allow-origin <origin...>', 'allow a browser origin, e.g. https://app.example.com; "*" for any')
    .option('--static <dir>', 'also serve this built site, with index.html as fallback')
    .option('--base-path <p>', 'serve the endpoints under this path prefix, e.g. /holdfast')
    .addOption(
      new Option('--drain-ms <n>', 'on SIGTERM, spread client reconnects over n ms')
        .default(5000)
        .argParser(integer('drain-ms')),
    )
    .addOption(
      new Option(
        '--redis <url>',
        'share channels with other processes through Redis, e.g. redis://127.0.0.1:6379',
      ).env('HOLDFAST_REDIS_URL'),
    )
    .addOption(
      new Option(
        '--redis-cluster <nodes>',
        'share channels through a Redis Cluster (7+): some of its nodes, host:port,host:port ' +
          '(redis://:password@host:port entries carry a password)',
      ).env('HOLDFAST_REDIS_CLUSTER'),
    )
    .option('--redis-prefix <p>', 'prefix of every Redis key', 'holdfast:')
    .addOption(
      new Option('--redis-connect-timeout-ms <n>', 'give up starting when Redis is unreachable this long')
        .default(5000)
        .argParser(integer('redis-connect-timeout-ms')),
    )
    .addOption(
      new Option('--history-size <n>', 'messages kept per channel (default 1000)').argParser(
        integer('history-size'),
      ),
    )
    .addOption(
      new Option('--history-ttl-ms <n>', 'age after which messages are dropped (default 600000)').argParser(
        integer('history-ttl-ms'),
      ),
    )
    .addOption(
      new Option(
        '--history-max-bytes <n>',
        'memory broker: history held in total, in bytes (default 268435456)',
      ).argParser(integer('history-max-bytes')),
    )
    .addOption(
      new Option(
        '--history-max-channels <n>',
        'memory broker: channel logs held at once (default 100000)',
      ).argParser(integer('history-max-channels')),
    )
    .addOption(
      new Option('--metrics-token <t>', 'require "Authorization: Bearer <t>" on /metrics').env(
        'HOLDFAST_METRICS_TOKEN',
      ),
    )
    .addOption(
      new Option(
        '--connection-rate <n>',
        'admit at most n new authenticated connections per second (default: no limit)',
      ).argParser(integer('connection-rate')),
    )
    .addOption(
      new Option(
        '--connection-burst <n>',
        'connections admitted back to back after a quiet period, within the rate per second (default: a tenth of the rate)',
      ).argParser(integer('connection-burst')),
    )
    .addOption(
      new Option(
        '--auth-failure-rate <rate>',
        `failed authentications per client address: N, N/BURST or off (default ${showRate(DEFAULT_AUTH_FAILURE_RATE as Required<RateOptions>)})`,
      ).argParser(rate('auth-failure-rate')),
    )
    .addOption(
      new Option(
        '--publish-rate <rate>',
        `publishes per WebSocket: N, N/BURST or off (default ${showRate(DEFAULT_PUBLISH_RATE as Required<RateOptions>)})`,
      ).argParser(rate('publish-rate')),
    )
    .addOption(
      new Option(
        '--publish-rate-per-client <rate>',
        `publishes per user (or address when anonymous): N, N/BURST or off (default ${showRate(DEFAULT_PUBLISH_RATE_PER_CLIENT as Required<RateOptions>)})`,
      ).argParser(rate('publish-rate-per-client')),
    )
    .addOption(
      new Option(
        '--max-connections-per-address <n>',
        'open connections per client address (default: no cap)',
      ).argParser(integer('max-connections-per-address')),
    )
    .addOption(
      new Option(
        '--presence-grace-ms <n>',
        'a member whose connection went stays present this long (default 15000)',
      ).argParser(integer('presence-grace-ms')),
    )
    .addOption(
      new Option(
        '--presence-ttl-ms <n>',
        "a dead server's WebSocket members leave within this long (default 30000)",
      ).argParser(integer('presence-ttl-ms')),
    )
    .addOption(
      new Option('--presence-max-members <n>', 'members one channel may hold (default 1000)').argParser(
        integer('presence-max-members'),
      ),
    )
    .option(
      '--trust-proxy',
      'count per-address limits by the last X-Forwarded-For entry (behind your own proxy only)',
      false,
    )
    .addHelpText(
      'after',
      '\nWithout a secret the server runs OPEN (development only) and binds 127.0.0.1.\nHOLDFAST_DEBUG=1 logs at debug level.',
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
}

interface Flags {
  port: number
  host?: string
  secret?: string
  requireChannelsClaim: boolean
  allowOrigin?: string[]
  static?: string
  basePath?: string
  drainMs: number
  redis?: string
  redisCluster?: string
  redisPrefix: string
  redisConnectTimeoutMs: number
  historySize?: number
  historyTtlMs?: number
  historyMaxBytes?: number
  historyMaxChannels?: number
  metricsToken?: string
  connectionRate?: number
  connectionBurst?: number
  authFailureRate?: RateOptions | false
  publishRate?: RateOptions | false
  publishRatePerClient?: RateOptions | false
  maxConnectionsPerAddress?: number
  presenceGraceMs?: number
  presenceTtlMs?: number
  presenceMaxMembers?: number
  trustProxy: boolean
}

/** The nodes of --redis-cluster (or HOLDFAST_REDIS_CLUSTER), comma-separated. */
function clusterNodes(list: string): string[] {
  return list.split(',').filter((node) => node.trim() !== '')
}

function parse(): Flags {
  const command = program()
  try {
    command.parse(process.argv)
    const flags = command.opts<Flags>()
    // Checked here rather than in an argParser, whose message would echo the value (and a password in it).
    // Empty values (an environment variable set to '') count as not given, as for --redis.
    if (flags.redis && flags.redisCluster)
      command.error(
        'error: give --redis or --redis-cluster (HOLDFAST_REDIS_URL or HOLDFAST_REDIS_CLUSTER), not both',
      )
    if (flags.redisCluster) {
      try {
        parseClusterNodes(clusterNodes(flags.redisCluster), '--redis-cluster')
      } catch (error) {
        command.error(`error: ${(error as Error).message.replace('[holdfast] ', '')}`)
      }
    }
    return flags
  } catch (error) {
    // --help and --version exit 0; bad arguments exit 2, after commander printed what was wrong.
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2)
    throw error
  }
}

async function main(): Promise<void> {
  const flags = parse()
  const secret = flags.secret || undefined
  const logger = pino(
    {
      name: 'holdfast',
      level: process.env.HOLDFAST_DEBUG ? 'debug' : 'info',
      // Belt and braces: nothing logs these, and if something ever did they would not be written.
      redact: ['token', '*.token', 'authorization', '*.authorization', 'secret', '*.secret', '*.bearerToken'],
    },
    pino.destination(2),
  )
  const history = {
    ...(flags.historySize === undefined ? {} : { size: flags.historySize }),
    ...(flags.historyTtlMs === undefined ? {} : { ttlMs: flags.historyTtlMs }),
  }
  const memoryHistory = {
    ...history,
    ...(flags.historyMaxBytes === undefined ? {} : { maxBytes: flags.historyMaxBytes }),
    ...(flags.historyMaxChannels === undefined ? {} : { maxChannels: flags.historyMaxChannels }),
  }
  const limits: LimitOptions = {
    ...(flags.connectionRate === undefined
      ? {}
      : {
          connectionRate: {
            perSecond: flags.connectionRate,
            ...(flags.connectionBurst === undefined ? {} : { burst: flags.connectionBurst }),
          },
        }),
    ...(flags.authFailureRate === undefined ? {} : { authFailureRate: flags.authFailureRate }),
    ...(flags.publishRate === undefined ? {} : { publishRate: flags.publishRate }),
    ...(flags.publishRatePerClient === undefined ? {} : { publishRatePerClient: flags.publishRatePerClient }),
    ...(flags.maxConnectionsPerAddress === undefined
      ? {}
      : { maxConnectionsPerAddress: flags.maxConnectionsPerAddress }),
  }

  const presence = {
    ...(flags.presenceGraceMs === undefined ? {} : { graceMs: flags.presenceGraceMs }),
    ...(flags.presenceTtlMs === undefined ? {} : { ttlMs: flags.presenceTtlMs }),
    ...(flags.presenceMaxMembers === undefined ? {} : { maxMembers: flags.presenceMaxMembers }),
  }

  let broker: RedisBroker | undefined
  if (flags.redis || flags.redisCluster) {
    broker = redisBroker({
      ...(flags.redisCluster ? { cluster: clusterNodes(flags.redisCluster) } : { url: flags.redis }),
      history,
      logger,
      keyPrefix: flags.redisPrefix,
    })
    try {
      await broker.ready(flags.redisConnectTimeoutMs)
    } catch (error) {
      await broker.close()
      throw error
    }
    logger.info(
      flags.redisCluster
        ? { redisCluster: redactClusterNodes(flags.redisCluster) }
        : { redis: redactRedisUrl(flags.redis!) },
      'using the Redis broker',
    )
  }

  const options: ServerOptions = {
    ...(broker ? { broker } : { history: memoryHistory }),
    ...(secret ? { auth: { secret, requireChannelsClaim: flags.requireChannelsClaim } } : {}),
    ...(flags.allowOrigin ? { allowedOrigins: flags.allowOrigin } : {}),
    ...(flags.static ? { staticDir: flags.static } : {}),
    ...(flags.basePath ? { basePath: flags.basePath } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(Object.keys(presence).length > 0 ? { presence } : {}),
    ...(flags.metricsToken ? { metrics: { bearerToken: flags.metricsToken } } : {}),
    ...(flags.trustProxy ? { clientAddress: forwardedAddress } : {}),
    logger,
  }
  const server = createServer(options)
  // An open server binds loopback unless --host says otherwise (createServer's own default).
  await server.listen(flags.port, flags.host === undefined ? {} : { host: flags.host })

  if (!secret) {
    const exposed = flags.host !== undefined && flags.host !== '127.0.0.1' && flags.host !== '::1'
    console.error(
      [
        '',
        '  ##################################################################',
        '  #  WARNING: holdfast-server is running OPEN, in development mode. #',
        '  #  No --secret: anyone who can reach it may subscribe & publish.  #',
        exposed
          ? `  #  It listens on ${flags.host} as --host asked: reachable by others. #`
          : '  #  It listens on 127.0.0.1 only; --host 0.0.0.0 would expose it. #',
        '  #  Pass --secret (or HOLDFAST_SECRET) before exposing it.         #',
        '  ##################################################################',
        '',
      ].join('\n'),
    )
  }
  console.log(`holdfast-server listening on ${server.url}`)

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal, drainMs: flags.drainMs }, 'shutting down')
    server
      .close({ drainMs: flags.drainMs })
      .then(() => broker?.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: String(error) }, 'shutdown failed')
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((error: unknown) => {
  console.error(`holdfast-server: ${(error as Error)?.message ?? String(error)}`)
  process.exit(1)
})
