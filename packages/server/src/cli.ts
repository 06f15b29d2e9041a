#!/usr/bin/env node
import { parseArgs } from 'node:util'
import pino from 'pino'
import {
  parseClusterNodes,
  type RedisBroker,
  redactClusterNodes,
  redactRedisUrl,
  redisBroker,
} from './broker/redisBroker'
import { createServer } from './createServer'

const USAGE = `Usage: holdfast-server [options]

  --port N            port to listen on (default: $PORT or 8080; 0 picks a free one)
  --host H            interface to bind (default: every interface)
  --secret S          HS256 secret for JWTs (or set HOLDFAST_SECRET; the environment keeps it out of ps)
  --allow-origin O    allow a browser origin, e.g. https://app.example.com; repeat for more; "*" for any
  --static DIR        also serve this built site, with index.html as fallback
  --base-path P       serve the endpoints under this path prefix, e.g. /holdfast
  --drain-ms N        on SIGTERM, spread client reconnects over N ms (default 5000)
  --redis URL         share channels with other processes through Redis, e.g. redis://127.0.0.1:6379
                      (or set HOLDFAST_REDIS_URL, which keeps a password out of ps)
  --redis-cluster N   share channels through a Redis Cluster (7+): some of its nodes, host:port,host:port
                      (or set HOLDFAST_REDIS_CLUSTER; redis://:password@host:port entries carry a password)
  --redis-prefix P    prefix of every Redis key (default holdfast:)
  --redis-connect-timeout-ms N
                      give up starting when Redis is unreachable for N ms (default 5000)
  --history-size N    messages kept per channel (default 1000)
  --history-ttl-ms N  age after which messages are dropped (default 600000)
  --metrics-token T   require "Authorization: Bearer T" on /metrics (or set HOLDFAST_METRICS_TOKEN)
  --connection-rate N admit at most N new connections per second (token bucket; default: no limit)
  --connection-burst N
                      connections admitted at once after a quiet period (default: the rate)
  --help              show this text

Without a secret the server runs OPEN: development only.`

function fail(message: string): never {
  console.error(`holdfast-server: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value)) fail(`--${name} must be a non-negative integer, got "${value}"`)
  return Number(value)
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse()
  } catch (error) {
    fail((error as Error).message)
  }
  const { values } = parsed
  if (values.help) {
    console.log(USAGE)
    return
  }
  const port = integer('port', values.port ?? process.env.PORT, 8080)
  const drainMs = integer('drain-ms', values['drain-ms'], 5000)
  const secret = values.secret ?? process.env.HOLDFAST_SECRET
  const redisUrl = values.redis ?? process.env.HOLDFAST_REDIS_URL
  const redisCluster = values['redis-cluster'] ?? process.env.HOLDFAST_REDIS_CLUSTER
  const metricsToken = values['metrics-token'] ?? process.env.HOLDFAST_METRICS_TOKEN
  const history = {
    ...(values['history-size'] === undefined
      ? {}
      : { size: integer('history-size', values['history-size'], 0) }),
    ...(values['history-ttl-ms'] === undefined
      ? {}
      : { ttlMs: integer('history-ttl-ms', values['history-ttl-ms'], 0) }),
  }
  const connectionRate =
    values['connection-rate'] === undefined
      ? undefined
      : {
          perSecond: integer('connection-rate', values['connection-rate'], 0),
          ...(values['connection-burst'] === undefined
            ? {}
            : { burst: integer('connection-burst', values['connection-burst'], 0) }),
        }
  const logger = pino(
    {
      name: 'holdfast',
      level: process.env.HOLDFAST_DEBUG ? 'debug' : 'info',
      // Belt and braces: nothing logs these, and if something ever did they would not be written.
      redact: ['token', '*.token', 'authorization', '*.authorization', 'secret', '*.secret', '*.bearerToken'],
    },
    pino.destination(2),
  )

  let broker: RedisBroker | undefined
  if (redisUrl && redisCluster) fail('give --redis or --redis-cluster, not both')
  if (redisUrl || redisCluster) {
    if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) fail(`--redis must be a redis:// or rediss:// URL`)
    let cluster: string[] | undefined
    if (redisCluster) {
      cluster = redisCluster.split(',').filter((node) => node.trim() !== '')
      try {
        parseClusterNodes(cluster)
      } catch (error) {
        fail(`--redis-cluster: ${(error as Error).message.replace('[holdfast] ', '')}`)
      }
    }
    broker = redisBroker({
      ...(cluster ? { cluster } : { url: redisUrl }),
      history,
      logger,
      ...(values['redis-prefix'] ? { keyPrefix: values['redis-prefix'] } : {}),
    })
    try {
      await broker.ready(integer('redis-connect-timeout-ms', values['redis-connect-timeout-ms'], 5000))
    } catch (error) {
      await broker.close()
      throw error
    }
    logger.info(
      redisUrl ? { redis: redactRedisUrl(redisUrl) } : { redisCluster: redactClusterNodes(redisCluster!) },
      'using the Redis broker',
    )
  }

  const server = createServer({
    ...(broker ? { broker } : { history }),
    ...(secret ? { auth: { secret } } : {}),
    ...(values['allow-origin'] ? { allowedOrigins: values['allow-origin'] } : {}),
    ...(values.static ? { staticDir: values.static } : {}),
    ...(values['base-path'] ? { basePath: values['base-path'] } : {}),
    ...(connectionRate ? { limits: { connectionRate } } : {}),
    ...(metricsToken ? { metrics: { bearerToken: metricsToken } } : {}),
    logger,
  })
  await server.listen(port, values.host === undefined ? {} : { host: values.host })

  if (!secret) {
    console.error(
      [
        '',
        '  ##################################################################',
        '  #  WARNING: holdfast-server is running OPEN, in development mode. #',
        '  #  No --secret: anyone who can reach it may subscribe & publish.  #',
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
    logger.info({ signal, drainMs }, 'shutting down')
    server
      .close({ drainMs })
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

function parse() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      secret: { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      static: { type: 'string' },
      'base-path': { type: 'string' },
      'drain-ms': { type: 'string' },
      redis: { type: 'string' },
      'redis-cluster': { type: 'string' },
      'redis-prefix': { type: 'string' },
      'redis-connect-timeout-ms': { type: 'string' },
      'history-size': { type: 'string' },
      'history-ttl-ms': { type: 'string' },
      'metrics-token': { type: 'string' },
      'connection-rate': { type: 'string' },
      'connection-burst': { type: 'string' },
      help: { type: 'boolean' },
    },
    allowPositionals: false,
  })
}

main().catch((error: unknown) => {
  console.error(`holdfast-server: ${(error as Error)?.message ?? String(error)}`)
  process.exit(1)
})
