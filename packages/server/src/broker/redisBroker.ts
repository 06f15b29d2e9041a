import { randomBytes } from 'node:crypto'
import { type Cursor, comparePositions, type ParsedCursor, parseCursor } from '@holdfast/protocol'
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import { type Clock, systemClock, type TimerHandle, unrefTimer } from '../Clock'
import { errorFields, type Logger, silentLogger } from '../Logger'
import {
  describe,
  functionOption,
  methodsOption,
  numberOption,
  objectOption,
  optionError,
} from '../options/check'
import { redisPresence } from '../presence/redisPresence'
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
import { hashSlot } from './hashSlot'
import type { HistoryOptions } from './memoryBroker'
import {
  classicLiveBus,
  type LiveBus,
  type LiveBusHandlers,
  shardedLiveBus,
  watchConnection,
} from './redisLiveBus'
import { LuaScript, PUBLISH_SCRIPT, READ_SCRIPT, REPAIR_SCRIPT } from './redisScripts'

export interface RedisBrokerOptions {
  /** One Redis: `redis://[[user]:password@]host[:port][/db]` or `rediss://…` for TLS. Give this or `cluster`. */
  url?: string
  /**
   * A Redis Cluster (Redis 7 or newer): some of its nodes, as `host:port` or
   * `redis[s]://[[user]:password@]host:port` (credentials and TLS then apply to every node). History keys
   * of a channel share one hash slot, and live notifications use sharded Pub/Sub (SSUBSCRIBE), so each
   * travels only within the shard that owns its channel. Give this or `url`.
   */
  cluster?: Array<string | { host: string; port: number }>
  /** Extra ioredis Cluster options (`redisOptions` for every node, `natMap`, `slotsRefreshInterval`…). */
  clusterOptions?: ClusterOptions
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
  /**
   * After each publish, wait until this many replicas acknowledged it (Redis `WAIT`), at most `timeoutMs`;
   * the publish resolves either way (a timeout is logged). Narrows the window in which a failover loses an
   * acknowledged message to replicas that fell behind; does not close it. Costs a replica round trip per
   * publish (docs/capacity.md). Defaults to off.
   */
  waitForReplicas?: { replicas: number; timeoutMs: number }
  /** Extra ioredis options (TLS, timeouts, `retryStrategy`) for both connections to one Redis (`url`). */
  redisOptions?: RedisOptions
  /** Names a new log incarnation. Defaults to 12 random base64url characters. */
  generateEpoch?: () => string
  /** Reports connection trouble, resyncs and failover losses. Defaults to silent. */
  logger?: Logger
  /** Drives the timer that keeps subscribed channels' epochs alive. Defaults to the system clock. */
  clock?: Clock
}

export interface RedisBroker extends Broker {
  /**
   * Resolves once Redis is reachable (both connections to one Redis, or the cluster's slot map); rejects
   * with the last connection error after `timeoutMs` (defaults to 5000). Useful at startup, to fail fast
   * on a wrong address or password.
   */
  ready(timeoutMs?: number): Promise<void>
}

interface LocalChannel {
  listeners: Set<MessageListener>
  subscribed: Promise<unknown>
}

/** The newest position this process knows Redis acknowledged on a channel, and the node that held it. */
interface KnownPosition {
  cursor: Cursor
  position: ParsedCursor
  node: string | undefined
}

const defaultEpoch = () => randomBytes(9).toString('base64url')
// Channels whose newest acknowledged position is remembered for failover repair, beyond subscribed ones.
const REMEMBER_CHANNELS = 10_000

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

/** A `--redis-cluster` node list without passwords, for messages and logs. */
export function redactClusterNodes(list: string): string {
  return list
    .split(',')
    .map((node) => (/^rediss?:\/\//.test(node.trim()) ? redactRedisUrl(node.trim()) : node.trim()))
    .join(',')
}

const REDIS_BROKER_KEYS = [
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
] as const satisfies ReadonlyArray<keyof RedisBrokerOptions>

const CLUSTER_EXAMPLE = "['127.0.0.1:7000', '127.0.0.1:7001']"

/**
 * Cluster nodes as ioredis wants them, and the credentials or TLS a `redis[s]://` entry carries. A wrong
 * list throws a `HoldfastServerError` (`bad_request`) whose message starts with `[holdfast] ${path}` and
 * never contains a password.
 */
export function parseClusterNodes(
  entries: unknown,
  path = 'redisBroker cluster',
): {
  nodes: Array<{ host: string; port: number }>
  redisOptions: RedisOptions
} {
  if (!Array.isArray(entries))
    throw optionError(
      path,
      `must be an array of Redis Cluster nodes, got ${describe(entries)}`,
      `pass some of its nodes, e.g. ${CLUSTER_EXAMPLE}`,
    )
  const nodes: Array<{ host: string; port: number }> = []
  const redisOptions: RedisOptions = {}
  for (const entry of entries as unknown[]) {
    if (typeof entry === 'object' && entry !== null) {
      const { host, port } = entry as { host?: unknown; port?: unknown }
      if (typeof host !== 'string' || host === '' || !isPort(port))
        throw optionError(
          path,
          `entry { host: ${describe(host)}, port: ${describe(port)} } is not a Redis Cluster node`,
          'use { host: "127.0.0.1", port: 7000 } with a port from 1 to 65535, or "host:port"',
        )
      nodes.push({ host, port })
      continue
    }
    if (typeof entry !== 'string')
      throw optionError(
        path,
        `entry ${describe(entry)} is not a Redis Cluster node`,
        `use "host:port" strings, e.g. ${CLUSTER_EXAMPLE}`,
      )
    const text = entry.trim()
    const isUrl = /^rediss?:\/\//.test(text)
    const href = isUrl ? text : `redis://${text}`
    const url = URL.canParse(href) ? new URL(href) : undefined
    const port = Number(url?.port || 6379)
    if (!url?.hostname || !isPort(port))
      throw optionError(
        path,
        // A URL that does not parse is not echoed: it may carry a password.
        `entry ${isUrl ? (url ? `"${redactRedisUrl(text)}"` : 'given as a URL') : JSON.stringify(text)} is not a Redis Cluster node`,
        'use host:port, or redis[s]://[[user]:password@]host:port',
      )
    nodes.push({ host: url.hostname.replace(/^\[|\]$/g, ''), port })
    if (url.username) redisOptions.username = decodeURIComponent(url.username)
    if (url.password) redisOptions.password = decodeURIComponent(url.password)
    if (url.protocol === 'rediss:') redisOptions.tls = {}
  }
  if (nodes.length === 0)
    throw optionError(
      path,
      'needs at least one node',
      `pass some of the cluster's nodes (the others are discovered), e.g. ${CLUSTER_EXAMPLE}`,
    )
  return { nodes, redisOptions }
}

function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65_535
}

function plainObjectOption(path: string, value: unknown, fix: string): void {
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value)))
    throw optionError(path, `must be an object, got ${describe(value)}`, fix)
}

function waitForReplicasOption(value: unknown): { replicas: number; timeoutMs: number } | undefined {
  if (value === undefined) return undefined
  const fix = 'pass e.g. { replicas: 1, timeoutMs: 100 }, or omit it to not wait'
  const o = objectOption('waitForReplicas', value, ['replicas', 'timeoutMs'])
  for (const key of ['replicas', 'timeoutMs'] as const) {
    const v = o[key]
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1))
      throw optionError(`waitForReplicas.${key}`, `must be an integer >= 1, got ${describe(v)}`, fix)
  }
  return { replicas: o.replicas as number, timeoutMs: o.timeoutMs as number }
}

/**
 * A broker for several server processes sharing one Redis or one Redis Cluster. History lives in one
 * Redis Stream per channel, and cursors come from stream entry ids (`<epoch>:<ms>-<seq>`), so any process
 * can resume any client. One Lua script appends, assigns the cursor, checks the idempotency key and
 * publishes the notification, so history and live delivery never disagree. Live messages reach other
 * processes through Pub/Sub (sharded on a cluster); after a subscriber connection comes back, the
 * channels it carried re-read from their cursors before anything newer is delivered.
 *
 * Failover: replication is asynchronous, so a promoted replica may lack messages the failed master
 * acknowledged. A resume from a cursor the log no longer vouches for is `recovered: false` (each entry
 * records the position before it), and every process that saw a lost position records the loss once the
 * channel's master is back, so resumes from before it are told too.
 */
export function redisBroker(options: RedisBrokerOptions): RedisBroker {
  const o = objectOption('redisBroker options', options, REDIS_BROKER_KEYS) as RedisBrokerOptions
  const sharded = o.cluster !== undefined
  if (sharded && o.url !== undefined)
    throw optionError(
      'redisBroker url',
      'and cluster are both set',
      "give either a url (one Redis, redis://127.0.0.1:6379) or a cluster (['127.0.0.1:7000', …]), not both",
    )
  if (!sharded && (typeof o.url !== 'string' || !/^rediss?:\/\//.test(o.url)))
    throw optionError(
      'redisBroker url',
      `must be a redis:// or rediss:// URL, got ${describe(o.url)}`,
      "pass e.g. redis://127.0.0.1:6379 (is REDIS_URL set?), or cluster: ['127.0.0.1:7000', …] for a Redis Cluster",
    )
  const cluster = sharded ? parseClusterNodes(o.cluster, 'redisBroker cluster') : undefined
  const history = o.history ?? {}
  if (typeof history !== 'object' || history === null)
    throw optionError('history', `must be an object, got ${describe(history)}`, 'pass { size, ttlMs }')
  const size = numberOption('history.size', history.size, 1000, { integer: true, min: 1 })
  const ttlMs = numberOption('history.ttlMs', history.ttlMs, 600_000, { integer: true, min: 1 })
  const idempotencyWindowMs = numberOption('idempotencyWindowMs', o.idempotencyWindowMs, 300_000, {
    integer: true,
    min: 1,
  })
  const prefix = o.keyPrefix ?? 'holdfast:'
  if (typeof prefix !== 'string' || /[{}]/.test(prefix))
    throw optionError(
      'keyPrefix',
      'must be a string without "{" or "}"',
      'channel names are Redis Cluster hash tags; use e.g. "holdfast:"',
    )
  const waitForReplicas = waitForReplicasOption(o.waitForReplicas)
  plainObjectOption('redisOptions', o.redisOptions, 'pass ioredis options, e.g. { tls: {} }, or omit it')
  plainObjectOption(
    'clusterOptions',
    o.clusterOptions,
    'pass ioredis Cluster options, e.g. { redisOptions: { tls: {} } }, or omit it',
  )
  if (o.clusterOptions !== undefined && !sharded)
    throw optionError(
      'clusterOptions',
      'only applies with cluster',
      'with url, pass ioredis options as redisOptions instead',
    )
  if (o.redisOptions !== undefined && sharded)
    throw optionError(
      'redisOptions',
      'only applies with url',
      'with cluster, pass them as clusterOptions: { redisOptions } (they then apply to every node)',
    )
  const generateEpoch =
    functionOption<() => string>('generateEpoch', o.generateEpoch, '() => string') ?? defaultEpoch
  const logger =
    methodsOption<Logger>('logger', o.logger, ['debug', 'info', 'warn', 'error'], 'pass a pino logger') ??
    silentLogger
  const clock =
    methodsOption<Clock>(
      'clock',
      o.clock,
      ['now', 'setTimeout', 'clearTimeout'],
      'pass systemClock or a test clock',
    ) ?? systemClock

  const where = cluster
    ? `redis-cluster ${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`
    : redactRedisUrl(o.url!)
  const publishScript = new LuaScript(PUBLISH_SCRIPT)
  const readScript = new LuaScript(READ_SCRIPT)
  const repairScript = new LuaScript(REPAIR_SCRIPT)
  const metaKey = (channel: string) => `${prefix}{${channel}}:meta`
  const logKey = (channel: string) => `${prefix}{${channel}}:log`
  const idempotencyKey = (channel: string, key: string) => `${prefix}{${channel}}:idem:${key}`
  // On one Redis the notification channel keeps its old name (so processes of the previous release still
  // hear it during a rolling upgrade); on a cluster it carries the hash tag, so SPUBLISH stays in the slot.
  const liveName = cluster
    ? (channel: string) => `${prefix}{${channel}}:live`
    : (channel: string) => `${prefix}live:${channel}`
  const lastError: { message: string | undefined } = { message: undefined }

  const channels = new Map<string, LocalChannel>()
  const channelOfName = new Map<string, string>()
  const resyncListeners = new Set<(channels?: ReadonlySet<string>) => void>()
  const known = new Map<string, KnownPosition>()
  // What was known when a connection to a channel's node dropped: after a failover, positions acknowledged
  // by the promoted replica (this process may publish there before the check runs) prove nothing about
  // what the failed master had acknowledged.
  const suspects = new Map<string, KnownPosition>()
  let closed = false

  let commands: Redis | Cluster
  let bus: LiveBus
  let subscriberConnection: Redis | undefined
  const handlers: LiveBusHandlers = {
    message: dispatch,
    interrupted(names) {
      suspect(names.map((name) => channelOfName.get(name)).filter((c): c is string => c !== undefined))
    },
    async restored(names) {
      const restoredChannels = new Set<string>()
      for (const name of names) {
        const channel = channelOfName.get(name)
        if (channel !== undefined) restoredChannels.add(channel)
      }
      await repair([...restoredChannels])
      if (closed || restoredChannels.size === 0) return
      logger.warn(
        { redis: where, channels: restoredChannels.size },
        '[holdfast] Redis subscriber is back; resyncing its subscriptions',
      )
      for (const listener of [...resyncListeners]) {
        try {
          listener(restoredChannels)
        } catch (error) {
          logger.error(errorFields(error), '[holdfast] a resync listener threw')
        }
      }
    },
  }
  if (cluster) {
    const nodeOptions: RedisOptions = { ...cluster.redisOptions, ...o.clusterOptions?.redisOptions }
    const clusterClient = new Cluster(cluster.nodes, {
      ...o.clusterOptions,
      redisOptions: nodeOptions,
      lazyConnect: false,
    })
    commands = clusterClient
    watchConnection(clusterClient, { redis: where, role: 'commands' }, logger, lastError)
    // A master this process wrote to went away: once its slots answer again (promoted replica, or the
    // same node back), check that what this process saw acknowledged there is still there.
    clusterClient.on('-node', (node: Redis) => {
      if (closed) return
      const key = `${node.options.host}:${node.options.port}`
      const affected = [...known].filter(([, k]) => k.node === key).map(([channel]) => channel)
      if (affected.length === 0) return
      suspect(affected)
      void repairUntilDone(affected)
    })
    bus = shardedLiveBus({ cluster: clusterClient, nodeOptions, handlers, logger, lastError })
  } else {
    const single = new Redis(o.url!, { ...o.redisOptions, lazyConnect: false })
    commands = single
    watchConnection(single, { redis: where, role: 'commands' }, logger, lastError)
    let wasReady = false
    single.on('close', () => {
      if (!wasReady || closed) return
      wasReady = false
      suspect([...known.keys()])
    })
    single.on('ready', () => {
      wasReady = true
      if (suspects.size > 0 && !closed) void repairUntilDone([...suspects.keys()])
    })
    const subscriber = new Redis(o.url!, {
      ...o.redisOptions,
      lazyConnect: false,
      autoResubscribe: false,
    })
    watchConnection(subscriber, { redis: where, role: 'subscriber' }, logger, lastError)
    subscriberConnection = subscriber
    bus = classicLiveBus(subscriber, handlers, logger, { redis: where })
  }

  function ownerOf(channel: string): string | undefined {
    return cluster ? (commands as Cluster).slots[hashSlot(metaKey(channel))]?.[0] : undefined
  }

  /** Remembers the newest position Redis acknowledged on a channel (publish replies, live notifications). */
  function remember(channel: string, cursor: Cursor, position: ParsedCursor): void {
    const previous = known.get(channel)
    if (
      previous &&
      previous.position.epoch === position.epoch &&
      comparePositions(position, previous.position) <= 0
    )
      return
    known.delete(channel)
    known.set(channel, { cursor, position, node: ownerOf(channel) })
    if (known.size > REMEMBER_CHANNELS) {
      for (const name of known.keys()) {
        if (channels.has(name)) continue
        known.delete(name)
        break
      }
    }
  }

  function suspect(list: string[]): void {
    for (const channel of list) {
      const seen = known.get(channel)
      if (seen && !suspects.has(channel)) suspects.set(channel, seen)
    }
  }

  /**
   * Records a loss for each channel whose log no longer holds a position this process saw acknowledged:
   * the newest one known when its connection dropped, and the newest one now. Resolves false when Redis
   * could not be asked.
   */
  async function repair(list: string[]): Promise<boolean> {
    let complete = true
    await Promise.all(
      list.map(async (channel) => {
        const before = suspects.get(channel)
        const now = known.get(channel)
        const positions = [before, now].filter(
          (k, i, all): k is KnownPosition => k !== undefined && all.indexOf(k) === i,
        )
        try {
          for (const seen of positions) {
            const recorded = await repairScript.run(
              commands,
              [metaKey(channel), logKey(channel)],
              [seen.position.epoch, seen.position.major, seen.position.minor],
            )
            if (recorded === 1)
              logger.warn(
                { channel, cursor: seen.cursor },
                '[holdfast] acknowledged messages were lost in a Redis failover or restart; resuming clients will be told recovered:false',
              )
          }
          if (suspects.get(channel) === before) suspects.delete(channel)
          if (now && known.get(channel) === now) now.node = ownerOf(channel)
        } catch (error) {
          complete = false
          logger.debug({ channel, ...errorFields(error) }, '[holdfast] failover check failed')
        }
      }),
    )
    return complete
  }

  /** Repairs until Redis answers for every channel (it may take a failover to get there), or gives up. */
  async function repairUntilDone(list: string[]): Promise<void> {
    let delayMs = 100
    const deadline = clock.now() + 60_000
    while (!closed && !(await repair(list))) {
      if (clock.now() > deadline) {
        logger.error({ channels: list.length }, '[holdfast] could not check channels for failover loss')
        return
      }
      await new Promise<void>((resolve) => {
        const handle = clock.setTimeout(resolve, delayMs)
        unrefTimer(handle)
      })
      delayMs = Math.min(delayMs * 2, 2000)
    }
  }

  function dispatch(name: string, payload: string): void {
    const channel = channelOfName.get(name)
    if (channel === undefined) return
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
    remember(channel, message.cursor, message.position)
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
      // One command per channel: on a cluster each goes to the node that owns its slot.
      Promise.all([...channels.keys()].map((channel) => commands.pexpire(metaKey(channel), ttlMs))).catch(
        (error: unknown) => logger.debug(errorFields(error), '[holdfast] keep-alive failed'),
      )
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

  let waitShortReported = false

  const presence = redisPresence({
    commands,
    prefix,
    metaKey,
    logKey,
    liveName,
    generateEpoch,
    historySize: size,
    historyTtlMs: ttlMs,
    sharded: cluster !== undefined,
  })

  return {
    presence,

    async publish(
      channel: string,
      json: string,
      publishOptions: PublishOptions = {},
    ): Promise<PublishResult> {
      assertOpen()
      const key = publishOptions.idempotencyKey
      const keys = [
        metaKey(channel),
        logKey(channel),
        key === undefined ? metaKey(channel) : idempotencyKey(channel, key),
      ]
      const args = [
        json,
        generateEpoch(),
        size,
        ttlMs,
        idempotencyWindowMs,
        liveName(channel),
        key === undefined ? '0' : '1',
        cluster ? '1' : '0',
      ]
      let reply: [number, string]
      if (waitForReplicas) {
        const result = await publishScript.runAndWait(commands, keys, args, waitForReplicas)
        reply = result.reply as [number, string]
        if (result.replicas < waitForReplicas.replicas && !waitShortReported) {
          waitShortReported = true
          logger.warn(
            { channel, wanted: waitForReplicas.replicas, acknowledged: result.replicas },
            '[holdfast] fewer Redis replicas than waitForReplicas acknowledged a publish in time',
          )
        } else if (result.replicas >= waitForReplicas.replicas) waitShortReported = false
      } else reply = (await publishScript.run(commands, keys, args)) as [number, string]
      const cursor = reply[1]
      const position = parseCursor(cursor)
      if (position) remember(channel, cursor, position)
      return { cursor, duplicate: reply[0] === 1 }
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
        const name = liveName(channel)
        channelOfName.set(name, channel)
        local = { listeners: new Set(), subscribed: bus.add(name) }
        channels.set(channel, local)
      }
      const entry = local
      entry.listeners.add(listener)
      const release = () => {
        entry.listeners.delete(listener)
        if (entry.listeners.size > 0 || channels.get(channel) !== entry) return
        channels.delete(channel)
        const name = liveName(channel)
        channelOfName.delete(name)
        if (!closed) bus.remove(name)
      }
      try {
        await entry.subscribed
      } catch (error) {
        release()
        throw error
      }
      return release
    },

    onResync(listener: (channels?: ReadonlySet<string>) => void): () => void {
      resyncListeners.add(listener)
      return () => resyncListeners.delete(listener)
    },

    ready(timeoutMs = 5000): Promise<void> {
      const connections: Array<Redis | Cluster> = subscriberConnection
        ? [commands, subscriberConnection]
        : [commands]
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (connections.every((c) => c.status === 'ready')) finish()
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
          for (const c of connections) c.off('ready', check)
          if (error) reject(error)
          else resolve()
        }
        for (const c of connections) c.on('ready', check)
        check()
      })
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (keepAliveTimer !== undefined) clock.clearTimeout(keepAliveTimer)
      keepAliveTimer = undefined
      channels.clear()
      channelOfName.clear()
      resyncListeners.clear()
      known.clear()
      suspects.clear()
      await Promise.all([
        bus.close(),
        (async () => {
          if (commands.status !== 'ready') {
            commands.disconnect()
            return
          }
          await commands.quit().catch(() => commands.disconnect())
        })(),
      ])
    },
  }
}
