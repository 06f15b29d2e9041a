import { randomBytes } from 'node:crypto'
import { type Cursor, parseCursor } from '@holdfast/protocol'
import { Redis, type RedisOptions } from 'ioredis'
import { type Clock, systemClock, type TimerHandle, unrefTimer } from '../Clock'
import { errorFields, type Logger, silentLogger } from '../Logger'
import { describe, numberOption, optionError } from '../options/check'
import type {
  Broker,
  MessageListener,
  PublishOptions,
  PublishResult,
  ReadOptions,
  ReadResult,
  StoredMessage,
} from './Broker'
import { createStoredMessage } from './createStoredMessage'
import type { HistoryOptions } from './memoryBroker'
import { LuaScript, PUBLISH_SCRIPT, READ_SCRIPT } from './redisScripts'

export interface RedisBrokerOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` for TLS. */
  url: string
  /**
   * Prepended to every key and Pub/Sub channel, so several deployments can share one Redis.
   * Must not contain `{` or `}` (channel names are used as Redis Cluster hash tags). Defaults to `holdfast:`.
   */
  keyPrefix?: string
  /**
   * Per-channel history in a Redis Stream: `size` is an approximate `MAXLEN` (Redis may keep up to about
   * a hundred more), `ttlMs` trims entries older than this and expires an idle stream. Defaults to
   * 1000 messages / 10 minutes.
   */
  history?: HistoryOptions
  /** How long an idempotency key is remembered, across every process. Defaults to 300000 (5 minutes). */
  idempotencyWindowMs?: number
  /** Extra ioredis options (TLS, timeouts, `retryStrategy`) for both connections. */
  redisOptions?: RedisOptions
  /** Names a new log incarnation. Defaults to 12 random base64url characters. */
  generateEpoch?: () => string
  /** Reports connection trouble and resyncs. Defaults to silent. */
  logger?: Logger
  /** Drives the timer that keeps subscribed channels' epochs alive. Defaults to the system clock. */
  clock?: Clock
}

export interface RedisBroker extends Broker {
  /**
   * Resolves once both Redis connections are ready; rejects with the last connection error after
   * `timeoutMs` (defaults to 5000). Useful at startup, to fail fast on a wrong URL or password.
   */
  ready(timeoutMs?: number): Promise<void>
}

interface LocalChannel {
  listeners: Set<MessageListener>
  subscribed: Promise<unknown>
}

const defaultEpoch = () => randomBytes(9).toString('base64url')

/** The URL without its password, for messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(unparseable Redis URL)'
  }
}

/**
 * A broker for several server processes sharing one Redis. History lives in one Redis Stream per channel,
 * and cursors come from stream entry ids (`<epoch>:<ms>-<seq>`), so any process can resume any client.
 * One Lua script appends, assigns the cursor, checks the idempotency key and publishes the notification,
 * so history and live delivery never disagree. Live messages reach other processes through Pub/Sub; after
 * the subscriber connection comes back, every subscription re-reads from its cursor before anything newer
 * is delivered.
 */
export function redisBroker(options: RedisBrokerOptions): RedisBroker {
  const size = options.history?.size ?? 1000
  const ttlMs = options.history?.ttlMs ?? 600_000
  const idempotencyWindowMs = options.idempotencyWindowMs ?? 300_000
  const prefix = options.keyPrefix ?? 'holdfast:'
  const generateEpoch = options.generateEpoch ?? defaultEpoch
  const logger = options.logger ?? silentLogger
  const clock = options.clock ?? systemClock
  if (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))
    throw optionError(
      'redisBroker url',
      `must be a redis:// or rediss:// URL, got ${describe(options.url)}`,
      'pass e.g. redis://127.0.0.1:6379 (is REDIS_URL set?)',
    )
  numberOption('history.size', size, 1000, { integer: true, min: 1 })
  numberOption('history.ttlMs', ttlMs, 600_000, { integer: true, min: 1 })
  numberOption('idempotencyWindowMs', idempotencyWindowMs, 300_000, { integer: true, min: 1 })
  if (typeof prefix !== 'string' || /[{}]/.test(prefix))
    throw optionError(
      'keyPrefix',
      'must be a string without "{" or "}"',
      'channel names are Redis Cluster hash tags; use e.g. "holdfast:"',
    )

  const where = redactRedisUrl(options.url)
  const publishScript = new LuaScript(PUBLISH_SCRIPT)
  const readScript = new LuaScript(READ_SCRIPT)
  const metaKey = (channel: string) => `${prefix}{${channel}}:meta`
  const logKey = (channel: string) => `${prefix}{${channel}}:log`
  const idempotencyKey = (channel: string, key: string) => `${prefix}{${channel}}:idem:${key}`
  const livePrefix = `${prefix}live:`

  // One connection for scripts, one in subscriber mode. The subscriber resubscribes by itself
  // (autoResubscribe off) so it knows when every channel is listened to again before it resyncs.
  const commands = new Redis(options.url, { ...options.redisOptions, lazyConnect: false })
  const subscriber = new Redis(options.url, {
    ...options.redisOptions,
    lazyConnect: false,
    autoResubscribe: false,
  })
  const lastError: { message: string | undefined } = { message: undefined }
  for (const [role, connection] of [
    ['commands', commands],
    ['subscriber', subscriber],
  ] as const) {
    let reported = false
    connection.on('error', (error: Error) => {
      lastError.message = error.message
      // Reconnect attempts repeat the same error; say it once per outage.
      if (reported) return
      reported = true
      logger.warn({ redis: where, role, ...errorFields(error) }, '[holdfast] Redis connection error')
    })
    connection.on('ready', () => {
      if (reported) logger.info({ redis: where, role }, '[holdfast] Redis connection is back')
      reported = false
    })
  }

  const channels = new Map<string, LocalChannel>()
  const resyncListeners = new Set<() => void>()
  let closed = false
  let everReady = false
  // While the subscriber is down or resubscribing, live messages wait here: nothing newer than the
  // interruption may be delivered before every subscription has been told to re-read.
  let interrupted = false
  let interruptions = 0
  let held: Array<[string, string]> = []

  subscriber.on('message', (pubsubChannel: string, payload: string) => {
    if (interrupted) held.push([pubsubChannel, payload])
    else dispatch(pubsubChannel, payload)
  })
  subscriber.on('close', () => {
    if (!everReady || closed) return
    if (!interrupted) logger.warn({ redis: where }, '[holdfast] Redis subscriber disconnected')
    interrupted = true
    interruptions++
  })
  subscriber.on('ready', () => {
    if (closed) return
    if (!everReady) {
      everReady = true
      return
    }
    if (interrupted) void recover(interruptions)
  })

  async function recover(attempt: number): Promise<void> {
    try {
      const names = [...channels.keys()].map((c) => livePrefix + c)
      if (names.length > 0) await subscriber.subscribe(...names)
    } catch (error) {
      // The connection failed again; its next 'ready' starts over.
      logger.warn({ redis: where, ...errorFields(error) }, '[holdfast] Redis resubscribe failed')
      return
    }
    if (attempt !== interruptions || closed) return
    logger.warn({ channels: channels.size }, '[holdfast] Redis subscriber is back; resyncing subscriptions')
    interrupted = false
    for (const listener of [...resyncListeners]) {
      try {
        listener()
      } catch (error) {
        logger.error(errorFields(error), '[holdfast] a resync listener threw')
      }
    }
    const waiting = held
    held = []
    for (const [pubsubChannel, payload] of waiting) dispatch(pubsubChannel, payload)
  }

  function dispatch(pubsubChannel: string, payload: string): void {
    if (!pubsubChannel.startsWith(livePrefix)) return
    const channel = pubsubChannel.slice(livePrefix.length)
    const local = channels.get(channel)
    if (!local || local.listeners.size === 0) return
    const newline = payload.indexOf('\n')
    let message: StoredMessage
    try {
      const cursor = payload.slice(0, newline)
      message = createStoredMessage({
        channel,
        cursor,
        json: payload.slice(newline + 1),
        time: parseCursor(cursor)?.major ?? clock.now(),
      })
    } catch (error) {
      logger.error({ channel, ...errorFields(error) }, '[holdfast] malformed Redis notification')
      return
    }
    for (const listener of [...local.listeners]) {
      try {
        listener(message)
      } catch (error) {
        logger.error({ channel, ...errorFields(error) }, '[holdfast] a broker listener threw')
      }
    }
  }

  // Subscribed channels keep their epoch even when nobody publishes or reads for a whole TTL: a caught-up
  // client must not be told it lost history merely because the channel was quiet.
  let keepAliveTimer: TimerHandle | undefined = scheduleKeepAlive()
  function scheduleKeepAlive(): TimerHandle {
    const handle = clock.setTimeout(keepAlive, Math.max(10, Math.min(Math.floor(ttlMs / 3), 60_000)))
    unrefTimer(handle)
    return handle
  }
  function keepAlive(): void {
    if (closed) return
    if (channels.size > 0 && commands.status === 'ready') {
      const pipeline = commands.pipeline()
      for (const channel of channels.keys()) pipeline.pexpire(metaKey(channel), ttlMs)
      pipeline
        .exec()
        .catch((error: unknown) => logger.debug(errorFields(error), '[holdfast] keep-alive failed'))
    }
    keepAliveTimer = scheduleKeepAlive()
  }

  function assertOpen(): void {
    if (closed) throw new Error('[holdfast] the broker is closed')
  }

  function toMessages(channel: string, epoch: string, entries: unknown): StoredMessage[] {
    const out: StoredMessage[] = []
    for (const entry of entries as Array<[string, string[]]>) {
      const [id, fields] = entry
      let json: string | undefined
      for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'd') json = fields[i + 1]
      if (json === undefined) continue
      out.push(
        createStoredMessage({ channel, cursor: `${epoch}:${id}`, json, time: parseCursor(`e:${id}`)!.major }),
      )
    }
    return out
  }

  return {
    async publish(
      channel: string,
      json: string,
      publishOptions: PublishOptions = {},
    ): Promise<PublishResult> {
      assertOpen()
      const key = publishOptions.idempotencyKey
      const reply = (await publishScript.run(
        commands,
        [
          metaKey(channel),
          logKey(channel),
          key === undefined ? metaKey(channel) : idempotencyKey(channel, key),
        ],
        [
          json,
          generateEpoch(),
          size,
          ttlMs,
          idempotencyWindowMs,
          livePrefix + channel,
          key === undefined ? '0' : '1',
        ],
      )) as [number, string]
      return { cursor: reply[1], duplicate: reply[0] === 1 }
    },

    async read(channel: string, readOptions: ReadOptions = {}): Promise<ReadResult> {
      assertOpen()
      const since = readOptions.since === undefined ? undefined : parseCursor(readOptions.since)
      const hasSince = readOptions.since !== undefined
      const reply = (await readScript.run(
        commands,
        [metaKey(channel), logKey(channel)],
        [
          generateEpoch(),
          ttlMs,
          hasSince ? '1' : '0',
          // A malformed cursor matches no epoch (epochs are never empty), so it reads as lost history.
          since?.epoch ?? '',
          since?.major ?? 0,
          since?.minor ?? 0,
          readOptions.limit === undefined ? '' : Math.max(0, Math.floor(readOptions.limit)),
        ],
      )) as [string, string, number?, string?, unknown?]
      const [epoch, headId] = reply
      const head: Cursor = `${epoch}:${headId}`
      if (!hasSince) return { epoch, head, recovered: true, from: head, messages: [], more: false }
      const recovered = reply[2] === 1
      let messages = toMessages(channel, epoch, reply[4] ?? [])
      let more = false
      if (readOptions.limit !== undefined && messages.length > readOptions.limit) {
        messages = messages.slice(0, Math.max(0, Math.floor(readOptions.limit)))
        more = true
      }
      return {
        epoch,
        head,
        recovered,
        from: recovered ? (readOptions.since as Cursor) : `${epoch}:${reply[3]}`,
        messages,
        more,
      }
    },

    async subscribe(channel: string, listener: MessageListener): Promise<() => void> {
      assertOpen()
      let local = channels.get(channel)
      if (!local) {
        local = { listeners: new Set(), subscribed: subscriber.subscribe(livePrefix + channel) }
        channels.set(channel, local)
      }
      const entry = local
      entry.listeners.add(listener)
      const release = () => {
        entry.listeners.delete(listener)
        if (entry.listeners.size > 0 || channels.get(channel) !== entry) return
        channels.delete(channel)
        if (!closed)
          subscriber
            .unsubscribe(livePrefix + channel)
            .catch((error: unknown) =>
              logger.debug(errorFields(error), '[holdfast] Redis unsubscribe failed'),
            )
      }
      try {
        await entry.subscribed
      } catch (error) {
        release()
        throw error
      }
      return release
    },

    onResync(listener: () => void): () => void {
      resyncListeners.add(listener)
      return () => resyncListeners.delete(listener)
    },

    ready(timeoutMs = 5000): Promise<void> {
      const both = [commands, subscriber]
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (both.every((c) => c.status === 'ready')) finish()
        }
        const timer = setTimeout(() => {
          finish(
            new Error(
              `[holdfast] could not reach Redis at ${where} within ${timeoutMs} ms` +
                (lastError.message ? `: ${lastError.message}` : ''),
            ),
          )
        }, timeoutMs)
        const finish = (error?: Error) => {
          clearTimeout(timer)
          for (const c of both) c.off('ready', check)
          if (error) reject(error)
          else resolve()
        }
        for (const c of both) c.on('ready', check)
        check()
      })
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (keepAliveTimer !== undefined) clock.clearTimeout(keepAliveTimer)
      keepAliveTimer = undefined
      channels.clear()
      resyncListeners.clear()
      held = []
      await Promise.all(
        [commands, subscriber].map(async (connection) => {
          if (connection.status !== 'ready') {
            connection.disconnect()
            return
          }
          await connection.quit().catch(() => connection.disconnect())
        }),
      )
    },
  }
}
