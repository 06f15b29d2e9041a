import { randomBytes } from 'node:crypto'
import { type Cursor, formatCursor, resolveResume } from '@holdfast/protocol'
import { type Clock, systemClock, unrefTimer } from '../Clock'
import { errorFields, type Logger, silentLogger } from '../Logger'
import { functionOption, methodsOption, numberOption, objectOption } from '../options/check'
import { memoryPresence } from '../presence/memoryPresence'
import type { PresenceStore } from '../presence/PresenceStore'
import type {
  Broker,
  MessageListener,
  PublishOptions,
  PublishResult,
  ReadOptions,
  ReadResult,
  StoredMessage,
} from './Broker'
import { createStoredMessage, storedMessageBytes } from './createStoredMessage'

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
  /**
   * Memory all channels' history may hold together, in bytes (as `storedMessageBytes` estimates it: a
   * message's JSON, SSE body and WebSocket frame, as text and as bytes). Past it the oldest idle history
   * goes first (channels nobody listens to, least recently used first), then the oldest messages of the
   * least recently used channels; a client resuming from evicted history is told `recovered: false`.
   * Defaults to 268435456 (256 MiB).
   */
  maxBytes?: number
  /**
   * Channel logs held at once. Past it the least recently used channel nobody listens to is freed (its
   * epoch and head are remembered as with `rememberIdle`). Defaults to 100000.
   */
  maxChannels?: number
}

/** History dropped to stay within `history.maxBytes` or `history.maxChannels`. */
export interface HistoryEviction {
  channel: string
  /** Messages dropped. */
  messages: number
  /** Their estimated size. */
  bytes: number
  reason: 'max_bytes' | 'max_channels'
}

/** What a memory broker holds right now. */
export interface MemoryBrokerStats {
  /** Estimated bytes of retained history, across channels (bounded by `history.maxBytes`). */
  bytes: number
  messages: number
  channels: number
  idempotencyKeys: number
}

export interface MemoryBroker extends Broker {
  readonly presence: PresenceStore
  stats(): MemoryBrokerStats
}

export interface MemoryBrokerOptions {
  history?: HistoryOptions
  /** How long an idempotency key is remembered. Defaults to 300000 (5 minutes). */
  idempotencyWindowMs?: number
  /**
   * Most idempotency keys remembered; past it the oldest go first. A key is at most 200 characters and its
   * channel at most 200, so this also bounds the table's bytes (about 1 KiB per key at most). Defaults to 100000.
   */
  idempotencyMaxKeys?: number
  /** Told about history dropped for the memory budget (the server counts it in its metrics). */
  onEvict?: (eviction: HistoryEviction) => void
  /** Defaults to the system clock. */
  clock?: Clock
  /** Names a new log incarnation. Defaults to 12 random base64url characters. */
  generateEpoch?: () => string
  /** Reports listeners that throw. Defaults to silent. */
  logger?: Logger
}

interface ChannelLog {
  name: string
  epoch: string
  /** Offset of the newest message ever stored in this epoch (0 when none). */
  head: number
  /** `head` as a cursor, one string shared by every read (each subscription keeps it). */
  headCursor: Cursor
  /** Offset of the newest message dropped from history (0 when none). */
  trimmedThrough: number
  messages: StoredMessage[]
  listeners: Set<MessageListener>
  lastActiveAt: number
  /** Estimated bytes of `messages`. */
  bytes: number
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
export function memoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const o = objectOption('memoryBroker options', options, [
    'history',
    'idempotencyWindowMs',
    'idempotencyMaxKeys',
    'onEvict',
    'clock',
    'generateEpoch',
    'logger',
  ]) as MemoryBrokerOptions
  const history = objectOption('history', o.history, [
    'size',
    'ttlMs',
    'rememberIdle',
    'maxBytes',
    'maxChannels',
  ]) as HistoryOptions
  const size = numberOption('history.size', history.size, 1000, { integer: true, min: 1 })
  const ttlMs = numberOption('history.ttlMs', history.ttlMs, 600_000)
  const rememberIdle = numberOption('history.rememberIdle', history.rememberIdle, 10_000, {
    integer: true,
    min: 0,
  })
  const maxBytes = numberOption('history.maxBytes', history.maxBytes, 256 * 2 ** 20, {
    integer: true,
    min: 1,
  })
  const maxChannels = numberOption('history.maxChannels', history.maxChannels, 100_000, {
    integer: true,
    min: 1,
  })
  const idempotencyWindowMs = numberOption('idempotencyWindowMs', o.idempotencyWindowMs, 300_000)
  const idempotencyMaxKeys = numberOption('idempotencyMaxKeys', o.idempotencyMaxKeys, 100_000, {
    integer: true,
    min: 1,
  })
  const onEvict = functionOption<(eviction: HistoryEviction) => void>(
    'onEvict',
    o.onEvict,
    '(eviction) => void',
  )
  const clock =
    methodsOption<Clock>(
      'clock',
      o.clock,
      ['now', 'setTimeout', 'clearTimeout'],
      'pass systemClock or a test clock',
    ) ?? systemClock
  const generateEpoch =
    functionOption<() => string>('generateEpoch', o.generateEpoch, '() => string') ?? defaultEpoch
  const logger =
    methodsOption<Logger>('logger', o.logger, ['debug', 'info', 'warn', 'error'], 'pass a pino logger') ??
    silentLogger

  // Channel logs, least recently used first (every publish, read and subscribe moves a log to the end).
  const channels = new Map<string, ChannelLog>()
  let totalBytes = 0
  let totalMessages = 0
  /** Freed idle logs: where they stood. Oldest first (insertion order), bounded by `rememberIdle`. */
  const idle = new Map<string, { epoch: string; head: number }>()
  const idempotency = new Map<string, IdempotencyRecord>()
  const resyncListeners = new Set<(channels?: ReadonlySet<string>) => void>()
  let closed = false

  function logFor(channel: string): ChannelLog {
    let log = channels.get(channel)
    if (log) {
      // Most recently used goes last, so eviction finds the least recently used first.
      channels.delete(channel)
      channels.set(channel, log)
      return log
    }
    // A freed log comes back where it stood: everything up to its head was delivered or expired.
    const was = idle.get(channel)
    idle.delete(channel)
    const epoch = was?.epoch ?? generateEpoch()
    log = {
      name: channel,
      epoch,
      head: was?.head ?? 0,
      headCursor: formatCursor(epoch, was?.head ?? 0),
      trimmedThrough: was?.head ?? 0,
      messages: [],
      listeners: new Set(),
      lastActiveAt: clock.now(),
      bytes: 0,
    }
    channels.set(channel, log)
    if (channels.size > maxChannels) evictChannels(log)
    return log
  }

  /** Frees a log nobody listens to, keeping where it stood (as an idle log) so a resume is honest. */
  function free(log: ChannelLog): void {
    if (log.messages.length > 0) drop(log, log.messages.length)
    channels.delete(log.name)
    if (rememberIdle === 0) return
    idle.delete(log.name)
    idle.set(log.name, { epoch: log.epoch, head: log.head })
    if (idle.size > rememberIdle) idle.delete(idle.keys().next().value!)
  }

  function evictChannels(keep: ChannelLog): void {
    for (const log of channels.values()) {
      if (channels.size <= maxChannels) return
      if (log === keep || log.listeners.size > 0) continue
      const messages = log.messages.length
      const bytes = log.bytes
      free(log)
      onEvict?.({ channel: log.name, messages, bytes, reason: 'max_channels' })
    }
  }

  /** Drops the `count` oldest messages of a log. */
  function drop(log: ChannelLog, count: number): number {
    let bytes = 0
    for (let i = 0; i < count; i++) bytes += storedMessageBytes(log.messages[i]!)
    log.trimmedThrough = log.messages[count - 1]!.position.major
    log.messages.splice(0, count)
    log.bytes -= bytes
    totalBytes -= bytes
    totalMessages -= count
    return bytes
  }

  // Over the budget: the oldest idle history goes first (logs nobody listens to, least recently used
  // first), then the oldest messages of the logs someone listens to. `keep` is the log being published
  // to: its newest message always stays.
  function evictBytes(keep: ChannelLog): void {
    for (const watched of [false, true]) {
      for (const log of channels.values()) {
        if (totalBytes <= maxBytes) return
        if (log.listeners.size > 0 !== watched) continue
        const keepLast = log === keep ? 1 : 0
        let count = 0
        let bytes = 0
        while (count < log.messages.length - keepLast && totalBytes - bytes > maxBytes)
          bytes += storedMessageBytes(log.messages[count++]!)
        if (count === 0) continue
        const dropped = drop(log, count)
        onEvict?.({ channel: log.name, messages: count, bytes: dropped, reason: 'max_bytes' })
      }
    }
  }

  function trim(log: ChannelLog, now: number): void {
    let count = Math.max(0, log.messages.length - size)
    while (count < log.messages.length && now - log.messages[count]!.time >= ttlMs) count++
    if (count > 0) drop(log, count)
  }

  /** Stores a message and hands it to the channel's listeners. */
  function append(channel: string, json: string, now: number): StoredMessage {
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
    log.headCursor = message.cursor
    const bytes = storedMessageBytes(message)
    log.bytes += bytes
    totalBytes += bytes
    totalMessages++
    trim(log, now)
    if (totalBytes > maxBytes) evictBytes(log)
    for (const listener of [...log.listeners]) {
      try {
        listener(message)
      } catch (error) {
        logger.error({ channel, ...errorFields(error) }, '[holdfast] a broker listener threw')
      }
    }
    return message
  }

  const presence = memoryPresence(
    {
      append: (channel, json) => append(channel, json, clock.now()).cursor,
      head: (channel) => {
        const log = logFor(channel)
        return { epoch: log.epoch, head: log.headCursor }
      },
    },
    clock,
  )

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
    for (const log of [...channels.values()]) {
      trim(log, now)
      if (log.messages.length === 0 && log.listeners.size === 0 && now - log.lastActiveAt >= ttlMs) free(log)
    }
    // Keys expire in the order they were stored: stop at the first that has not.
    for (const [key, record] of idempotency) {
      if (record.expiresAt > now) break
      idempotency.delete(key)
    }
    sweepTimer = scheduleSweep()
  }

  return {
    presence,

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
      const message = append(channel, json, now)
      if (key !== undefined) {
        idempotency.set(key, { cursor: message.cursor, expiresAt: now + idempotencyWindowMs })
        if (idempotency.size > idempotencyMaxKeys) idempotency.delete(idempotency.keys().next().value!)
      }
      return { cursor: message.cursor, duplicate: false }
    },

    async read(channel: string, readOptions: ReadOptions = {}): Promise<ReadResult> {
      assertOpen()
      const now = clock.now()
      const log = logFor(channel)
      log.lastActiveAt = now
      trim(log, now)
      const head = log.headCursor
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

    stats(): MemoryBrokerStats {
      return {
        bytes: totalBytes,
        messages: totalMessages,
        channels: channels.size,
        idempotencyKeys: idempotency.size,
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
      presence.clear()
      totalBytes = 0
      totalMessages = 0
      idle.clear()
      idempotency.clear()
      resyncListeners.clear()
    },
  }
}
