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

/** A channel's subscription: what the app asked for, and what the server answered. */
export interface ChannelEntry {
  readonly channel: string
  readonly listeners: Set<Listener>
  /** Asked for on the current connection (a refusal clears it). */
  sent?: boolean
  /** The server refused the channel; it is not asked for again until the app subscribes again. */
  error?: HoldfastError
  /** Resume point and duplicate filter: the last delivered cursor, or where the server started the channel. */
  cursor: Cursor | undefined
  /** `cursor`, parsed (the hot path compares every message against it). */
  at: ParsedCursor | null
  /** What the pending subscribe asked to resume after, to report a gap against. */
  asked?: Cursor
  /** The starting point is fixed: the app gave `since`, or the server said where it starts. */
  anchored: boolean
  /** The server's confirmation on the current connection, told to listeners that join later. */
  info?: SubscribedInfo
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

  constructor(stats: ClientStats, report: (error: unknown) => void) {
    this.stats = stats
    this.#report = report
  }

  /** Adds a listener. A channel that is not live (new, or refused) is asked for (again). */
  add(channel: string, listener: Listener, since: Cursor | undefined): ChannelEntry {
    let entry = this.#entries.get(channel)
    if (!entry) {
      entry = {
        channel,
        listeners: new Set(),
        cursor: since,
        at: parseCursor(since),
        anchored: !!since,
      }
      this.#entries.set(channel, entry)
      this.#dropped.delete(channel)
    }
    if (entry.error) entry.error = entry.sent = undefined
    entry.listeners.add(listener)
    // A channel already live: tell this listener too (after `subscribe` returns, as for everyone else).
    const { info } = entry
    if (info)
      queueMicrotask(
        () => entry.info === info && entry.listeners.has(listener) && listener.onSubscribed?.(info),
      )
    return entry
  }

  remove(entry: ChannelEntry, listener: Listener): void {
    entry.listeners.delete(listener)
    if (!entry.listeners.size && this.#entries.get(entry.channel) === entry) {
      this.#entries.delete(entry.channel)
      if (entry.sent) this.#dropped.add(entry.channel)
    }
  }

  /** A new connection: the server knows none of our channels; ask for every one not refused. */
  reset(): void {
    this.#dropped.clear()
    for (const entry of this.#entries.values()) entry.sent = entry.info = undefined
  }

  /** Sends what changed since the last sync: subscribe what is not asked for yet, unsubscribe what was dropped. */
  sync(transport: Transport): void {
    for (const channel of this.#dropped) transport.unsubscribe(channel)
    this.#dropped.clear()
    for (const entry of this.#entries.values())
      if (!entry.sent && !entry.error) transport.subscribe(this.#ask(entry))
  }

  /**
   * Every channel to subscribe, with its resume point (HTTP transports open with the whole set). `dry`: for a
   * probe, which asks without the answer counting yet.
   */
  requests(dry?: boolean): SubscriptionRequest[] {
    return [...this.#entries.values()].filter((entry) => !entry.error).map((entry) => this.#ask(entry, dry))
  }

  #ask(entry: ChannelEntry, dry?: boolean): SubscriptionRequest {
    if (!dry) {
      entry.asked = entry.cursor
      entry.sent = true
    }
    return { channel: entry.channel, since: entry.cursor }
  }

  /**
   * Whether publishes must wait: a channel the app asked for has no starting point yet, so a message published
   * now might land before it and never reach that subscriber.
   */
  blocks(): boolean {
    for (const entry of this.#entries.values()) if (!entry.anchored && !entry.error) return true
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
    this.#advance(entry, cursor)
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
    if (!entry || entry.error) return
    const { asked } = entry
    const { channel, epoch, cursor, recovered } = frame
    const gap = !recovered && asked !== undefined
    entry.asked = undefined
    entry.info = { channel, epoch, cursor, recovered }
    // Without a cursor the channel starts at the server's head; after a gap, with whatever the server replays.
    if (gap || !entry.cursor) this.#advance(entry, gap ? undefined : cursor)
    this.#each(entry, (l) => l.onSubscribed?.(entry.info!))
    if (!gap) return
    this.stats.gaps++
    const lost: GapInfo = { channel, since: asked, epoch, cursor }
    this.#each(entry, (l) => l.onGap?.(lost))
    return lost
  }

  /** The server refused a channel: stop asking until the app asks again. */
  refused(channel: string, error: HoldfastError): void {
    const entry = this.#entries.get(channel)
    if (!entry) return
    entry.error = error
    entry.sent = entry.info = undefined
    this.#each(entry, (l) => l.onError?.(error))
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
