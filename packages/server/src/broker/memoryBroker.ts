import { randomBytes } from 'node:crypto'
import { type Cursor, formatCursor, resolveResume } from '@holdfast/protocol'
import { type Clock, systemClock, unrefTimer } from '../Clock'
import { errorFields, type Logger, silentLogger } from '../Logger'
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

export interface HistoryOptions {
  /** Most messages kept per channel. Defaults to 1000. */
  size?: number
  /** Messages older than this are dropped. Defaults to 600000 (10 minutes). */
  ttlMs?: number
  /**
   * Idle, empty channel logs are freed; this many of them keep their epoch and head (about 100 bytes
   * each), so a client that was caught up resumes with `recovered: true` instead of a false gap.
   * Beyond it the oldest are forgotten whole and start a new epoch. Defaults to 10000.
   */
  rememberIdle?: number
}

export interface MemoryBrokerOptions {
  history?: HistoryOptions
  /** How long an idempotency key is remembered. Defaults to 300000 (5 minutes). */
  idempotencyWindowMs?: number
  /** Defaults to the system clock. */
  clock?: Clock
  /** Names a new log incarnation. Defaults to 12 random base64url characters. */
  generateEpoch?: () => string
  /** Reports listeners that throw. Defaults to silent. */
  logger?: Logger
}

interface ChannelLog {
  epoch: string
  /** Offset of the newest message ever stored in this epoch (0 when none). */
  head: number
  /** Offset of the newest message dropped from history (0 when none). */
  trimmedThrough: number
  messages: StoredMessage[]
  listeners: Set<MessageListener>
  lastActiveAt: number
}

interface IdempotencyRecord {
  cursor: Cursor
  expiresAt: number
}

const defaultEpoch = () => randomBytes(9).toString('base64url')

/**
 * The default broker: channel logs in this process's memory. A restart loses them, and every channel
 * starts a new epoch, so resuming clients are told (`recovered: false`) rather than misled.
 */
export function memoryBroker(options: MemoryBrokerOptions = {}): Broker {
  const size = options.history?.size ?? 1000
  const ttlMs = options.history?.ttlMs ?? 600_000
  const idempotencyWindowMs = options.idempotencyWindowMs ?? 300_000
  const clock = options.clock ?? systemClock
  const generateEpoch = options.generateEpoch ?? defaultEpoch
  const logger = options.logger ?? silentLogger
  if (!(Number.isInteger(size) && size >= 1))
    throw new RangeError('[holdfast] history.size must be an integer >= 1')
  if (!(ttlMs > 0)) throw new RangeError('[holdfast] history.ttlMs must be > 0')
  const rememberIdle = options.history?.rememberIdle ?? 10_000
  if (!(Number.isInteger(rememberIdle) && rememberIdle >= 0))
    throw new RangeError('[holdfast] history.rememberIdle must be an integer >= 0')

  const channels = new Map<string, ChannelLog>()
  /** Freed idle logs: where they stood. Oldest first (insertion order), bounded by `rememberIdle`. */
  const idle = new Map<string, { epoch: string; head: number }>()
  const idempotency = new Map<string, IdempotencyRecord>()
  const resyncListeners = new Set<(channels?: ReadonlySet<string>) => void>()
  let closed = false

  function logFor(channel: string): ChannelLog {
    let log = channels.get(channel)
    if (!log) {
      // A freed log comes back where it stood: everything up to its head was delivered or expired.
      const was = idle.get(channel)
      idle.delete(channel)
      log = {
        epoch: was?.epoch ?? generateEpoch(),
        head: was?.head ?? 0,
        trimmedThrough: was?.head ?? 0,
        messages: [],
        listeners: new Set(),
        lastActiveAt: clock.now(),
      }
      channels.set(channel, log)
    }
    return log
  }

  function trim(log: ChannelLog, now: number): void {
    let drop = Math.max(0, log.messages.length - size)
    while (drop < log.messages.length && now - log.messages[drop]!.time >= ttlMs) drop++
    if (drop === 0) return
    log.trimmedThrough = log.messages[drop - 1]!.position.major
    log.messages.splice(0, drop)
  }

  function assertOpen(): void {
    if (closed) throw new Error('[holdfast] the broker is closed')
  }

  // Frees memory between reads: expired messages, idempotency keys and idle empty logs.
  // A log is freed only when it holds nothing, nobody listens and it has been idle for a whole TTL;
  // its epoch and head stay in `idle` (bounded), so resuming from its head is still a full recovery.
  let sweepTimer = scheduleSweep()
  function scheduleSweep() {
    const handle = clock.setTimeout(sweep, Math.min(ttlMs, idempotencyWindowMs, 60_000))
    unrefTimer(handle)
    return handle
  }
  function sweep(): void {
    if (closed) return
    const now = clock.now()
    for (const [name, log] of channels) {
      trim(log, now)
      if (log.messages.length === 0 && log.listeners.size === 0 && now - log.lastActiveAt >= ttlMs) {
        channels.delete(name)
        if (rememberIdle === 0) continue
        idle.set(name, { epoch: log.epoch, head: log.head })
        if (idle.size > rememberIdle) idle.delete(idle.keys().next().value!)
      }
    }
    for (const [key, record] of idempotency) if (record.expiresAt <= now) idempotency.delete(key)
    sweepTimer = scheduleSweep()
  }

  return {
    async publish(
      channel: string,
      json: string,
      publishOptions: PublishOptions = {},
    ): Promise<PublishResult> {
      assertOpen()
      const now = clock.now()
      const key =
        publishOptions.idempotencyKey === undefined
          ? undefined
          : `${channel}\n${publishOptions.idempotencyKey}`
      if (key !== undefined) {
        const seen = idempotency.get(key)
        if (seen && seen.expiresAt > now) return { cursor: seen.cursor, duplicate: true }
      }
      const log = logFor(channel)
      log.lastActiveAt = now
      log.head += 1
      const message = createStoredMessage({
        channel,
        cursor: formatCursor(log.epoch, log.head),
        json,
        time: now,
      })
      log.messages.push(message)
      trim(log, now)
      if (key !== undefined)
        idempotency.set(key, { cursor: message.cursor, expiresAt: now + idempotencyWindowMs })
      for (const listener of [...log.listeners]) {
        try {
          listener(message)
        } catch (error) {
          logger.error({ channel, ...errorFields(error) }, '[holdfast] a broker listener threw')
        }
      }
      return { cursor: message.cursor, duplicate: false }
    },

    async read(channel: string, readOptions: ReadOptions = {}): Promise<ReadResult> {
      assertOpen()
      const now = clock.now()
      const log = logFor(channel)
      log.lastActiveAt = now
      trim(log, now)
      const head = formatCursor(log.epoch, log.head)
      const limit = readOptions.limit ?? Number.POSITIVE_INFINITY
      if (readOptions.since === undefined)
        return { epoch: log.epoch, head, recovered: true, from: head, messages: [], more: false }

      const { recovered, from, after } = resolveResume(readOptions.since, {
        epoch: log.epoch,
        head: { major: log.head, minor: 0 },
        trimmedThrough: { major: log.trimmedThrough, minor: 0 },
      })
      // Offsets are contiguous within an epoch, so the first message after a position is found by arithmetic.
      const first = log.messages[0]?.position.major ?? log.head + 1
      const start = Math.min(log.messages.length, Math.max(0, after.major + 1 - first))
      const end = Math.min(log.messages.length, start + limit)
      return {
        epoch: log.epoch,
        head,
        recovered,
        from,
        messages: log.messages.slice(start, end),
        more: end < log.messages.length,
      }
    },

    async subscribe(channel: string, listener: MessageListener): Promise<() => void> {
      assertOpen()
      const log = logFor(channel)
      log.listeners.add(listener)
      return () => {
        log.listeners.delete(listener)
        log.lastActiveAt = clock.now()
      }
    },

    onResync(listener: (channels?: ReadonlySet<string>) => void): () => void {
      // Memory is never disconnected from itself; kept so callers need not special-case brokers.
      resyncListeners.add(listener)
      return () => resyncListeners.delete(listener)
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      clock.clearTimeout(sweepTimer)
      channels.clear()
      idle.clear()
      idempotency.clear()
      resyncListeners.clear()
    },
  }
}
