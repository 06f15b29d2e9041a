import { parseArgs } from 'node:util'
import { WebhookVerificationError } from '../WebhookVerificationError'
import { createDispatcher } from './createDispatcher'
import type { Delivery, DeliveryStore } from './DeliveryStore'
import { RedisDeliveryStore } from './RedisDeliveryStore'

export interface RunCliOptions {
  /** Arguments after the program name, e.g. `['dlq', 'list', '--redis', 'redis://…']`. */
  argv: readonly string[]
  /** Defaults to `process.env`; `REDIS_URL` stands in for `--redis`. */
  env?: Readonly<Record<string, string | undefined>>
  stdout?: (text: string) => void
  stderr?: (text: string) => void
  /** Opens the store; defaults to a `RedisDeliveryStore` over a new ioredis client. */
  openStore?: (options: {
    redisUrl: string
    keyPrefix?: string
  }) => Promise<{ store: DeliveryStore; close(): Promise<void> }>
}

const USAGE = `Usage:
  holdfast-webhooks dlq list [--limit N] [--offset N] [--json]
  holdfast-webhooks dlq replay <deliveryId>...

Options:
  --redis URL      Redis holding the dispatcher's deliveries (default: $REDIS_URL)
  --prefix PREFIX  Key prefix given to RedisDeliveryStore (default: holdfast:webhooks)
  -h, --help       Show this help
`

async function openRedisStore(options: { redisUrl: string; keyPrefix?: string }) {
  let Redis: typeof import('ioredis').Redis
  try {
    ;({ Redis } = await import('ioredis'))
  } catch (error) {
    throw new WebhookVerificationError(
      'invalid_options',
      '[holdfast] the CLI needs ioredis: npm install ioredis',
      {
        cause: error,
      },
    )
  }
  // Fail fast instead of ioredis's default of reconnecting forever: a CLI should report and exit.
  const redis = new Redis(options.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  })
  // ioredis reports the real cause (ECONNREFUSED, WRONGPASS) as an event and rejects more vaguely.
  let lastError: unknown
  redis.on('error', (error) => {
    lastError = error
  })
  try {
    await redis.connect()
  } catch (error) {
    throw lastError ?? error
  }
  return {
    store: new RedisDeliveryStore({ redis, keyPrefix: options.keyPrefix }),
    close: async () => {
      await redis.quit()
    },
  }
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

function describeFailure(delivery: Delivery): string {
  const failure = delivery.lastFailure
  if (!failure) return ''
  return failure.status === undefined ? failure.message : `HTTP ${failure.status}`
}

function parseCliArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  })
}

/** The `holdfast-webhooks` command line. Resolves to the exit code: 0 done, 1 failed, 2 usage error. */
export async function runCli(options: RunCliOptions): Promise<number> {
  const stdout = options.stdout ?? ((text: string) => process.stdout.write(text))
  const stderr = options.stderr ?? ((text: string) => process.stderr.write(text))
  const env = options.env ?? process.env

  let parsed: ReturnType<typeof parseCliArgs>
  try {
    parsed = parseCliArgs(options.argv)
  } catch (error) {
    stderr(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  const [group, command, ...ids] = positionals
  if (values.help) {
    stdout(USAGE)
    return 0
  }
  if (group !== 'dlq' || (command !== 'list' && command !== 'replay')) {
    stderr(USAGE)
    return 2
  }
  if (command === 'replay' && ids.length === 0) {
    stderr(`holdfast-webhooks dlq replay needs at least one delivery id\n\n${USAGE}`)
    return 2
  }
  const redisUrl = values.redis ?? env.REDIS_URL
  if (!redisUrl) {
    stderr(
      '[holdfast] pass --redis redis://host:6379 (or set REDIS_URL): the dead-letter queue lives in Redis\n',
    )
    return 2
  }
  const limit = Number(values.limit ?? 100)
  const offset = Number(values.offset ?? 0)
  if (!(Number.isInteger(limit) && limit > 0 && Number.isInteger(offset) && offset >= 0)) {
    stderr('--limit must be a positive integer and --offset a non-negative integer\n')
    return 2
  }

  let opened: { store: DeliveryStore; close(): Promise<void> }
  try {
    opened = await (options.openStore ?? openRedisStore)({ redisUrl, keyPrefix: values.prefix })
  } catch (error) {
    stderr(`[holdfast] cannot open ${redisUrl}: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
  // autoStart: false — the CLI only reads and requeues; running dispatchers deliver the replays.
  const dispatcher = createDispatcher({ store: opened.store, autoStart: false })
  try {
    if (command === 'list') {
      const dead = await dispatcher.listDeadLetters({ limit, offset })
      if (values.json) {
        stdout(`${JSON.stringify(dead, null, 2)}\n`)
      } else if (dead.length === 0) {
        stdout('The dead-letter queue is empty.\n')
      } else {
        const rows = [['ID', 'ENDPOINT', 'EVENT', 'ATTEMPTS', 'REASON', 'DEAD AT', 'LAST FAILURE']]
        for (const d of dead) {
          rows.push([
            d.id,
            d.endpointId,
            d.eventType,
            String(d.attempts),
            d.deadReason ?? '',
            d.deadAt ? new Date(d.deadAt).toISOString() : '',
            describeFailure(d),
          ])
        }
        stdout(`${formatTable(rows)}\n`)
      }
      return 0
    }
    let failed = 0
    for (const id of ids) {
      try {
        await dispatcher.replay(id)
        stdout(`replayed ${id}\n`)
      } catch (error) {
        failed++
        stderr(`${error instanceof Error ? error.message : String(error)}\n`)
      }
    }
    return failed === 0 ? 0 : 1
  } finally {
    await dispatcher.close()
    await opened.close()
  }
}
