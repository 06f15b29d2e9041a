import { type Cursor, formatCursor, resolveResume } from '@holdfast/protocol'

/** A message as the mock stored it. */
export interface StoredMessage<TData = unknown> {
  channel: string
  cursor: Cursor
  data: TData
}

interface Entry {
  offset: number
  message: StoredMessage
}

interface ChannelState {
  epoch: string
  nextOffset: number
  entries: Entry[]
}

/** Where a (re)subscription starts, computed as PROTOCOL.md §1 describes. */
export interface Resume {
  channel: string
  epoch: string
  /** Newest message when the subscription started (`<epoch>:0` for an empty log). */
  head: Cursor
  /** False when `since` could not be honoured in full; the replay then starts at the oldest message kept. */
  recovered: boolean
  /** Messages after the start point, oldest first. */
  replay: StoredMessage[]
  /** Cursor the replay starts after. */
  startFrom: Cursor
}

export type Sink = (message: StoredMessage) => void

interface Listener {
  sink: Sink
  /** Called when the channel's history is lost under this live listener. */
  lost: (() => void) | undefined
}

/**
 * The in-memory server side: one bounded log per channel, the live listeners of each channel
 * and the idempotency window of publishes.
 */
export class ChannelLog {
  private readonly channels = new Map<string, ChannelState>()
  private readonly listeners = new Map<string, Set<Listener>>()
  /** Keyed by channel and key: PROTOCOL.md §3 scopes idempotency keys per channel. */
  private readonly keys = new Map<string, { cursor: Cursor; at: number }>()
  private generation = 1

  constructor(
    private readonly baseEpoch: string,
    private readonly historyLimit: number,
    private readonly idempotencyWindowMs: number,
    private readonly now: () => number,
  ) {}

  append(channel: string, data: unknown, key?: string): { message: StoredMessage; duplicate: boolean } {
    const scoped = key === undefined ? undefined : `${channel}\n${key}`
    if (scoped !== undefined) {
      const seen = this.keys.get(scoped)
      if (seen && this.now() - seen.at < this.idempotencyWindowMs) {
        return { message: { channel, cursor: seen.cursor, data }, duplicate: true }
      }
    }
    const state = this.state(channel)
    const offset = state.nextOffset++
    const message: StoredMessage = { channel, cursor: formatCursor(state.epoch, offset), data }
    state.entries.push({ offset, message })
    if (state.entries.length > this.historyLimit)
      state.entries.splice(0, state.entries.length - this.historyLimit)
    if (scoped !== undefined) this.keys.set(scoped, { cursor: message.cursor, at: this.now() })
    for (const listener of [...(this.listeners.get(channel) ?? [])]) listener.sink(message)
    return { message, duplicate: false }
  }

  /**
   * Registers a live listener; returns its removal. `lost` is called (and the listener removed) when the
   * channel's history is lost under it: only a fresh subscription can report that gap.
   */
  listen(channel: string, sink: Sink, lost?: () => void): () => void {
    let set = this.listeners.get(channel)
    if (!set) {
      set = new Set()
      this.listeners.set(channel, set)
    }
    const listener: Listener = { sink, lost }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0 && this.listeners.get(channel) === set) this.listeners.delete(channel)
    }
  }

  resume(channel: string, since: Cursor | undefined): Resume {
    const state = this.state(channel)
    const newest = state.entries.at(-1)?.offset ?? state.nextOffset - 1
    const head = formatCursor(state.epoch, newest)
    const oldest = state.entries[0]?.offset ?? state.nextOffset
    const base = { channel, epoch: state.epoch, head }
    if (since === undefined) return { ...base, recovered: true, replay: [], startFrom: head }
    const point = resolveResume(since, {
      epoch: state.epoch,
      head: { major: newest, minor: 0 },
      trimmedThrough: { major: oldest - 1, minor: 0 },
    })
    const replay = state.entries.filter((e) => e.offset > point.after.major).map((e) => e.message)
    return { ...base, recovered: point.recovered, replay, startFrom: point.from }
  }

  history(channel: string): StoredMessage[] {
    return (this.channels.get(channel)?.entries ?? []).map((e) => e.message)
  }

  /** Forgets the history of one channel or of all, under a new epoch. */
  lose(channel?: string): void {
    this.generation++
    const targets = channel === undefined ? [...this.channels.keys()] : [channel]
    for (const name of targets) {
      this.channels.set(name, { epoch: this.epochName(), nextOffset: 1, entries: [] })
      const set = this.listeners.get(name)
      if (!set) continue
      for (const listener of [...set]) {
        if (!listener.lost) continue
        set.delete(listener)
        listener.lost()
      }
      if (set.size === 0) this.listeners.delete(name)
    }
  }

  clear(): void {
    this.channels.clear()
    this.keys.clear()
    this.generation = 1
  }

  private state(channel: string): ChannelState {
    let state = this.channels.get(channel)
    if (!state) {
      state = { epoch: this.epochName(), nextOffset: 1, entries: [] }
      this.channels.set(channel, state)
    }
    return state
  }

  private epochName(): string {
    return this.generation === 1 ? this.baseEpoch : `${this.baseEpoch}-${this.generation}`
  }
}
