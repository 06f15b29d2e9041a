import type { Cursor, ParsedCursor } from '@holdfast/protocol'
import type { PresenceStore } from '../presence/PresenceStore'

/**
 * One message in a channel's log, encoded once when it was stored: every WebSocket subscriber gets the
 * same `frame`, every SSE stream and poll answer the same `body`. Build it with `createStoredMessage`.
 */
export interface StoredMessage {
  readonly channel: string
  readonly cursor: Cursor
  /** `cursor`, parsed once, so per-subscriber ordering checks cost no parsing. */
  readonly position: ParsedCursor
  /** The payload as JSON text, serialized once at publish. */
  readonly json: string
  /** When the message was stored, in milliseconds since the Unix epoch. */
  readonly time: number
  /** `{"type":"message","channel",...,"data"}`: the WebSocket frame. */
  readonly frame: string
  /** `{"channel","cursor","data"}`: the SSE `data:` line and the entry in a poll answer. */
  readonly body: string
  /** `frame` as UTF-8 bytes, computed on first use and shared by every socket. */
  readonly frameBytes: Buffer
  /** `body` as UTF-8 bytes, computed on first use and shared by every stream. */
  readonly bodyBytes: Buffer
}

export interface PublishOptions {
  /**
   * The same key on the same channel within the broker's idempotency window stores nothing new
   * and answers the first cursor with `duplicate: true`.
   */
  idempotencyKey?: string
}

export interface PublishResult {
  /** Cursor of the stored message; for a duplicate, the cursor of the first publish. */
  cursor: Cursor
  /** True when the idempotency key was already seen in the window. */
  duplicate: boolean
}

export interface ReadOptions {
  /** Read the messages after this cursor. Without it nothing is replayed; the answer only names the head. */
  since?: Cursor
  /** Most messages to return; `more` tells when there are more. Defaults to no limit. */
  limit?: number
}

export interface ReadResult {
  /** The current incarnation of the channel's log. */
  epoch: string
  /** Cursor of the newest stored message, or `<epoch>:0` when nothing was ever stored in this epoch. */
  head: Cursor
  /**
   * True when every message after `since` is in `messages` (or follows with `more`).
   * False when `since` is of another epoch, older than the retained history, or ahead of `head`;
   * `messages` then start at the oldest retained message. Always true without `since`.
   */
  recovered: boolean
  /**
   * Where `messages` start from, as a resumable cursor: `since` when recovered, `head` without `since`,
   * otherwise the newest cursor known to be lost (or `<epoch>:0`), so that reading again from `from`
   * replays the same retained messages.
   */
  from: Cursor
  /** Messages after `from`, oldest first. Empty without `since`. */
  messages: StoredMessage[]
  /** True when `limit` cut the answer short; read again from the last message. */
  more: boolean
}

/** Called for each message stored on a subscribed channel, in cursor order. Must not throw. */
export type MessageListener = (message: StoredMessage) => void

/**
 * Where channel logs live and how new messages reach subscribers. The transports only talk to this,
 * so a broker backed by Redis (Streams for history, Pub/Sub for fan-out) can replace the in-memory one
 * without touching them.
 */
export interface Broker {
  /**
   * Appends to the channel's log, assigns the cursor and notifies subscribers, as one atomic step:
   * history and live delivery never disagree.
   */
  publish(channel: string, json: string, options?: PublishOptions): Promise<PublishResult>
  /** Reads the channel's log; see `ReadResult` for what `recovered` promises. */
  read(channel: string, options?: ReadOptions): Promise<ReadResult>
  /**
   * Listens for new messages on a channel. Resolves once the listener is guaranteed to see every
   * message stored from then on (a Redis broker waits for its SUBSCRIBE to be confirmed), so that
   * subscribe-then-read leaves no gap. The listener may also see a few messages stored just before;
   * transports drop those by cursor. The returned function stops listening.
   */
  subscribe(channel: string, listener: MessageListener): Promise<() => void>
  /**
   * Called when live delivery may have missed messages (for example after the broker's connection
   * came back): subscribers re-read those channels from their last cursor. `channels` names the channels
   * affected (a Redis Cluster shard carries only some); without it, every channel is. Call it before
   * delivering any message that follows the interruption; a subscriber that saw a later message first
   * would resume past the missed ones.
   */
  onResync(listener: (channels?: ReadonlySet<string>) => void): () => void
  /** Releases timers and connections. */
  close(): Promise<void>
  /**
   * Who is present in each channel (PROTOCOL.md §8), kept beside the channel logs: presence events are
   * messages of `<channel>~presence`. Optional: a broker without it serves no presence channels.
   */
  readonly presence?: PresenceStore
}
