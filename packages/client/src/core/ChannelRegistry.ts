import {
  type Cursor,
  comparePositions,
  type ParsedCursor,
  parseCursor,
  type SubscribedFrame,
} from '@holdfast/protocol'
import type { HoldfastError } from '../HoldfastError'
import type { SubscriptionRequest, Transport } from '../transports/Transport'
import type { GapInfo, Message, SubscribedInfo } from './types'

/** One subscriber of a channel, as the registry sees it. */
export interface Listener {
  push(message: Message): void
  onGap?(gap: GapInfo): void
  onError?(error: HoldfastError): void
  onSubscribed?(info: SubscribedInfo): void
}

/**
 * A channel's subscription. `wanted`: to be asked for on this connection; `sent`: asked, no answer yet;
 * `live`: the server confirmed it; `refused`: the server said no (`error`), until the app asks again.
 */
export interface ChannelEntry {
  readonly channel: string
  readonly listeners: Set<Listener>
  state: 'wanted' | 'sent' | 'live' | 'refused'
  /** Resume point and duplicate filter: the last delivered cursor, or where the server started the channel. */
  cursor: Cursor | undefined
  /** `cursor`, parsed (the hot path compares every message against it). */
  at: ParsedCursor | null
  /** What the pending subscribe asked to resume after, to report a gap against. */
  asked: Cursor | undefined
  /** The starting point is fixed: the app gave `since`, or the server said where it starts. */
  anchored: boolean
  /** Request order, shared with publishes: a publish waits for the channels asked for before it. */
  seq: number
  error?: HoldfastError
}

/** Counters for tests and dashboards. */
export interface ClientStats {
  messagesDelivered: number
  duplicatesDropped: number
  gaps: number
  connects: number
  /** Moves from one transport to another (fallback or moving back up). */
  transportSwitches: number
}

/**
 * Every channel the app subscribed: where each resumes, which duplicates to drop, when history was lost
 * (a gap), and what the server answered. One network subscription per channel, many listeners.
 */
export class ChannelRegistry {
  readonly #entries = new Map<string, ChannelEntry>()
  /** Channels dropped by the app since the last sync: unsubscribe them on the wire. */
  readonly #dropped = new Set<string>()
  readonly #report: (error: unknown) => void
  readonly stats: ClientStats
  /** Request counter, shared with the publisher (`nextSeq`). */
  seq = 0

  constructor(stats: ClientStats, report: (error: unknown) => void) {
    this.stats = stats
    this.#report = report
  }

  get(channel: string): ChannelEntry | undefined {
    return this.#entries.get(channel)
  }

  /** Adds a listener. A channel that is not live (new, refused) is asked for (again). */
  add(channel: string, listener: Listener, since: Cursor | undefined): ChannelEntry {
    let entry = this.#entries.get(channel)
    if (!entry) {
      entry = {
        channel,
        listeners: new Set(),
        state: 'wanted',
        cursor: since,
        at: parseCursor(since),
        asked: undefined,
        anchored: since !== undefined,
        seq: ++this.seq,
      }
      this.#entries.set(channel, entry)
      this.#dropped.delete(channel)
    } else if (entry.state === 'refused') {
      entry.state = 'wanted'
      entry.error = undefined
      entry.seq = ++this.seq
    }
    entry.listeners.add(listener)
    return entry
  }

  remove(entry: ChannelEntry, listener: Listener): void {
    entry.listeners.delete(listener)
    if (entry.listeners.size === 0 && this.#entries.get(entry.channel) === entry) {
      this.#entries.delete(entry.channel)
      if (entry.state === 'sent' || entry.state === 'live') this.#dropped.add(entry.channel)
    }
  }

  /** A new connection: the server knows none of our channels; ask for every one not refused. */
  reset(): void {
    this.#dropped.clear()
    for (const entry of this.#entries.values()) if (entry.state !== 'refused') entry.state = 'wanted'
  }

  /** Sends what changed since the last sync: subscribe what is wanted, unsubscribe what was dropped. */
  sync(transport: Transport): void {
    for (const channel of this.#dropped) transport.unsubscribe(channel)
    this.#dropped.clear()
    for (const entry of this.#entries.values())
      if (entry.state === 'wanted') transport.subscribe(this.#ask(entry))
  }

  /**
   * Every channel to subscribe, with its resume point (HTTP transports open with the whole set). `dry`: for
   * a probe, which asks without the answer counting yet.
   */
  requests(dry?: boolean): SubscriptionRequest[] {
    const out: SubscriptionRequest[] = []
    for (const entry of this.#entries.values()) if (entry.state !== 'refused') out.push(this.#ask(entry, dry))
    return out
  }

  #ask(entry: ChannelEntry, dry?: boolean): SubscriptionRequest {
    if (!dry) {
      entry.asked = entry.cursor
      if (entry.state === 'wanted') entry.state = 'sent'
    }
    return entry.cursor ? { channel: entry.channel, since: entry.cursor } : { channel: entry.channel }
  }

  /** Whether a publish numbered `seq` must wait: a channel asked for before it has no starting point yet. */
  blocks(seq: number): boolean {
    for (const entry of this.#entries.values())
      if (entry.seq < seq && !entry.anchored && entry.state !== 'refused') return true
    return false
  }

  /** Drops duplicates by cursor, advances the channel, hands the message to every listener. */
  deliver({ channel, cursor, data }: Message): void {
    const entry = this.#entries.get(channel)
    if (!entry) return
    const at = parseCursor(cursor)
    const last = entry.at
    // Different epochs are not comparable: a new epoch (history lost) is always newer.
    if (at && last && at.epoch === last.epoch && comparePositions(at, last) <= 0) {
      this.stats.duplicatesDropped++
      return
    }
    entry.cursor = cursor
    entry.at = at
    this.stats.messagesDelivered++
    const message: Message = { channel, cursor, data }
    for (const listener of entry.listeners) listener.push(message)
  }

  /** Where the server starts a channel, before its confirmation arrives (SSE response header). */
  anchor(channel: string, cursor: Cursor): void {
    const entry = this.#entries.get(channel)
    if (entry && !entry.cursor && parseCursor(cursor)) this.#advance(entry, cursor)
  }

  #advance(entry: ChannelEntry, cursor: Cursor | undefined): void {
    entry.cursor = cursor
    entry.at = parseCursor(cursor)
    entry.anchored = true
  }

  /** The server confirmed a channel. Returns the gap when history since the resume point was lost. */
  subscribed(
    frame: Pick<SubscribedFrame, 'channel' | 'epoch' | 'cursor' | 'recovered'>,
  ): GapInfo | undefined {
    const entry = this.#entries.get(frame.channel)
    if (!entry || entry.state === 'refused') return
    entry.state = 'live'
    const { asked } = entry
    entry.asked = undefined
    const info: SubscribedInfo = {
      channel: frame.channel,
      epoch: frame.epoch,
      cursor: frame.cursor,
      recovered: frame.recovered,
    }
    const gap = !frame.recovered && asked !== undefined
    // Without a cursor the channel starts at the server's head; after a gap, with whatever the server replays.
    if (gap || !entry.cursor) this.#advance(entry, gap ? undefined : frame.cursor)
    this.#each(entry, (l) => l.onSubscribed?.(info))
    if (!gap) return
    this.stats.gaps++
    const lost: GapInfo = { channel: frame.channel, since: asked, epoch: frame.epoch, cursor: frame.cursor }
    this.#each(entry, (l) => l.onGap?.(lost))
    return lost
  }

  /** The server refused a channel: stop asking until the app asks again. */
  refused(channel: string, error: HoldfastError): boolean {
    const entry = this.#entries.get(channel)
    if (!entry) return false
    entry.state = 'refused'
    entry.error = error
    this.#each(entry, (l) => l.onError?.(error))
    return true
  }

  #each(entry: ChannelEntry, fn: (listener: Listener) => void): void {
    for (const listener of entry.listeners) {
      try {
        fn(listener)
      } catch (error) {
        this.#report(error)
      }
    }
  }
}
