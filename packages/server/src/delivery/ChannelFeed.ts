import type { Cursor, ParsedCursor } from '@holdfast/protocol'
import { comparePositions, parseCursor } from '@holdfast/protocol'
import type { Broker, ReadResult, StoredMessage } from '../broker/Broker'
import { errorFields, type Logger } from '../Logger'
import type { DropReason } from '../metrics/ServerMetrics'
import type { ResyncListener } from '../ServerContext'
import type { SlowConsumerPolicy } from '../ServerOptions'

/** Why a feed gave up; the transport then makes its client reconnect and resume from history. */
export type FeedFailure = 'slow_consumer' | 'history_lost' | 'internal'

/** The connection a feed writes into. One connection may carry many feeds. */
export interface FeedSink {
  /**
   * Sends one message; the transport applies its send-buffer limit here. `live` is false for messages
   * read from history (paced by `drained`), true for messages pushed by the broker, to which `policy`
   * applies when the buffer is full.
   */
  write(message: StoredMessage, live: boolean, policy: SlowConsumerPolicy): void
  /** A live message held during a replay was given up under the `drop` or `latest` policy. */
  dropped(reason: DropReason): void
  /** Bytes queued on the connection and not yet sent. */
  bufferedBytes(): number
  /** Resolves once the connection has room again (or closed). */
  drained(): Promise<void>
  /** The feed can no longer keep its no-gap promise. */
  fail(reason: FeedFailure): void
}

/** What every feed of a server shares; built once, not per subscription. */
export interface FeedEnvironment {
  broker: Broker
  /** Live messages held during a replay plus the connection's queue may not exceed this. */
  maxBufferedBytes: number
  logger: Logger
  /** The server's set of resync listeners; the feed joins it while open. */
  resyncListeners: Set<ResyncListener>
  /** Messages per history read while replaying. Defaults to 256. */
  pageSize?: number
}

export interface ChannelFeedOptions {
  channel: string
  since?: Cursor | undefined
  sink: FeedSink
  /** What to do with live messages past `maxBufferedBytes`. Defaults to `'close'`. */
  policy?: SlowConsumerPolicy
}

// Most feeds start from the same place (a channel's head, which a broker hands out as one string), so the
// last parse is kept: thousands of subscriptions then share one position instead of one each.
let lastParsed: { cursor: Cursor; position: ParsedCursor | undefined } | undefined
function parseShared(cursor: Cursor): ParsedCursor | undefined {
  if (lastParsed?.cursor !== cursor) lastParsed = { cursor, position: parseCursor(cursor) ?? undefined }
  return lastParsed.position
}

type FeedState = 'new' | 'opening' | 'replaying' | 'live' | 'closed'

/**
 * One channel delivered to one connection: replay from a cursor, then live, with no gap and no duplicate
 * at the seam. It listens before it reads, holds live messages while the replay is written, then releases
 * only those after the last replayed cursor. Replay is paced by the connection's buffer, not dumped into it.
 */
// A server holds one feed per subscription, so a feed keeps only what is its own: the environment is
// shared, and what is empty (the held messages) is not allocated until needed.
export class ChannelFeed {
  readonly channel: string
  readonly #env: FeedEnvironment
  readonly #sink: FeedSink
  readonly #policy: SlowConsumerPolicy
  #state: FeedState = 'new'
  #unsubscribe: (() => void) | undefined
  #pending: StoredMessage[] | undefined
  #pendingBytes = 0
  #epoch = ''
  #last: ParsedCursor | undefined
  // Where `open` reads from (`since`), then the position of the last message written.
  #lastCursor: Cursor | undefined
  // Bumped by every (re)start of a replay, so an outdated replay loop stops on its own.
  #generation = 0
  #resyncRequested = false
  #superseding = false

  constructor(env: FeedEnvironment, options: ChannelFeedOptions) {
    this.channel = options.channel
    this.#env = env
    this.#sink = options.sink
    this.#policy = options.policy ?? 'close'
    this.#lastCursor = options.since
  }

  get #pageSize(): number {
    return this.#env.pageSize ?? 256
  }

  /** Position of the last message written, or where delivery starts from. */
  get cursor(): Cursor | undefined {
    return this.#lastCursor
  }

  get closed(): boolean {
    return this.#state === 'closed'
  }

  /**
   * Starts listening, then reads history. Resolves with what the subscription starts from, or `null`
   * when the feed was closed meanwhile. Nothing is written until `start`.
   */
  async open(): Promise<ReadResult | null> {
    if (this.#state !== 'new') throw new Error('[holdfast] ChannelFeed.open() called twice')
    this.#state = 'opening'
    this.#env.resyncListeners.add(this)
    const unsubscribe = await this.#env.broker.subscribe(this.channel, this.#onMessage)
    if (this.closed) {
      unsubscribe()
      return null
    }
    this.#unsubscribe = unsubscribe
    const since = this.#lastCursor
    const result = await this.#env.broker.read(this.channel, {
      ...(since === undefined ? {} : { since }),
      limit: this.#pageSize,
    })
    if (this.closed) return null
    this.#epoch = result.epoch
    this.#lastCursor = result.from
    this.#last = parseShared(result.from)
    return result
  }

  /** Writes the replay `open` returned, then goes live. */
  start(first: ReadResult): void {
    if (this.#state !== 'opening') return
    this.#state = 'replaying'
    this.#runReplay(++this.#generation, first)
  }

  close(): void {
    if (this.closed) return
    this.#state = 'closed'
    this.#env.resyncListeners.delete(this)
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    this.#pending = undefined
    this.#pendingBytes = 0
  }

  readonly #onMessage = (message: StoredMessage): void => {
    if (this.closed) return
    if (this.#state === 'live') {
      this.#deliver(message, true)
      return
    }
    const sink = this.#sink
    if (
      this.#superseding ||
      this.#pendingBytes + message.frame.length + sink.bufferedBytes() > this.#env.maxBufferedBytes
    ) {
      if (this.#policy === 'close') {
        this.#fail('slow_consumer')
        return
      }
      if (this.#policy === 'drop') {
        sink.dropped('drop')
        return
      }
      // 'latest': once behind, what waits for the replay to end is only ever the newest message.
      this.#superseding = true
      for (let i = 0; i < (this.#pending?.length ?? 0); i++) sink.dropped('latest')
      this.#pending = undefined
      this.#pendingBytes = 0
    }
    this.#pending ??= []
    this.#pending.push(message)
    this.#pendingBytes += message.frame.length
  }

  /**
   * The broker may have missed live messages on `channels` (on every channel when absent): re-read from
   * the last cursor before going on. A resync that names only other channels is ignored.
   */
  resync(channels?: ReadonlySet<string>): void {
    if (this.closed || (channels && !channels.has(this.channel))) return
    if (this.#state !== 'live') {
      // The replay in flight may have read before the missed messages; go over it again once live.
      this.#resyncRequested = true
      return
    }
    this.#state = 'replaying'
    const generation = ++this.#generation
    const since = this.#lastCursor
    void this.#env.broker
      .read(this.channel, { ...(since === undefined ? {} : { since }), limit: this.#pageSize })
      .then((page) => {
        if (this.#isStale(generation)) return
        if (!page.recovered || page.epoch !== this.#epoch) return this.#fail('history_lost')
        this.#runReplay(generation, page)
      })
      .catch((error: unknown) => this.#failInternal(error))
  }

  #isStale(generation: number): boolean {
    return this.closed || generation !== this.#generation
  }

  #deliver(message: StoredMessage, live: boolean): void {
    if (message.position.epoch !== this.#epoch) {
      // The log was lost and restarted under us; only a fresh subscription can say so honestly.
      this.#fail('history_lost')
      return
    }
    if (this.#last && comparePositions(message.position, this.#last) <= 0) return
    this.#last = message.position
    this.#lastCursor = message.cursor
    this.#sink.write(message, live, this.#policy)
  }

  #runReplay(generation: number, first: ReadResult): void {
    this.#replay(generation, first).catch((error: unknown) => this.#failInternal(error))
  }

  async #replay(generation: number, first: ReadResult): Promise<void> {
    const { maxBufferedBytes, broker } = this.#env
    const sink = this.#sink
    let page = first
    for (;;) {
      for (const message of page.messages) {
        if (sink.bufferedBytes() > maxBufferedBytes / 2) await sink.drained()
        if (this.#isStale(generation)) return
        this.#deliver(message, false)
      }
      if (this.#isStale(generation)) return
      if (!page.more) break
      const before = this.#lastCursor
      page = await broker.read(this.channel, {
        ...(before === undefined ? {} : { since: before }),
        limit: this.#pageSize,
      })
      if (this.#isStale(generation)) return
      if (!page.recovered || page.epoch !== this.#epoch) return this.#fail('history_lost')
      if (page.more && page.messages.length === 0)
        throw new Error('broker returned an empty page with more=true')
    }
    this.#state = 'live'
    this.#superseding = false
    const pending = this.#pending ?? []
    this.#pending = undefined
    this.#pendingBytes = 0
    for (const message of pending) {
      if (this.closed) return
      this.#deliver(message, true)
    }
    if (this.#resyncRequested && !this.closed) {
      this.#resyncRequested = false
      this.resync()
    }
  }

  #fail(reason: FeedFailure): void {
    if (this.closed) return
    this.close()
    this.#sink.fail(reason)
  }

  #failInternal(error: unknown): void {
    if (this.closed) return
    this.#env.logger.error(
      { channel: this.channel, ...errorFields(error) },
      '[holdfast] channel feed failed while replaying history',
    )
    this.#fail('internal')
  }
}
