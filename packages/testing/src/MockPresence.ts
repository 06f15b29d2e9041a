import { type Cursor, type ErrorCode, formatPosition, parseCursor } from '@holdfast/protocol'
import {
  type PresenceChannelName,
  type PresenceEvent,
  type PresenceMember,
  type PresenceRefusal,
  parsePresenceChannel,
  presenceChannel,
  presenceEnterChannel,
  snapshotCursor,
} from '@holdfast/protocol/presence'
import type { ChannelLog, Resume, StoredMessage } from './ChannelLog'

export interface ResolvedPresenceOptions {
  graceMs: number
  maxMembers: number
  maxInfoBytes: number
  clientId: (token: string | undefined) => string | undefined
}

/** A typed refusal, turned into an error frame or an HTTP error by the transport. */
export class MockPresenceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

interface Entry {
  member: PresenceMember
  /** Who holds it: a WebSocket subscription, an SSE stream, a long poll. None: held by the test (`join`). */
  readonly holders: Set<object>
  /** Set once no holder is left: it leaves when the grace runs out. */
  graceTimer: ReturnType<typeof setTimeout> | undefined
}

/** Where a (re)subscription starts, presence names included; `fresh`: the transport reports `subscribed`. */
export type OpenResult = Resume & { fresh: boolean }

const UTF8 = new TextEncoder()
const ENTER_EPOCH = 'presence'
/** What a publish to an enter channel is acked with: nothing is stored (PROTOCOL.md §8). */
export const PRESENCE_ACK_CURSOR: Cursor = 'presence:0'

/**
 * The mock's presence, as PROTOCOL.md §8 and the server's presence feeds have it: members per channel,
 * their join / update / leave events in the log of `<channel>~presence`, snapshots at the log's head, and
 * members that leave `graceMs` after their last connection went.
 */
export class MockPresence {
  readonly #channels = new Map<string, Map<string, Entry>>()
  /** Info declared before its member entered, by channel and connection id. */
  readonly #pending = new Map<string, Map<string, unknown>>()
  #nextId = 1

  constructor(
    readonly options: ResolvedPresenceOptions,
    private readonly log: ChannelLog,
    private readonly now: () => number,
  ) {}

  /** Members of `channel`, sorted by connection id. */
  members(channel: string): PresenceMember[] {
    return [...(this.#channels.get(channel)?.values() ?? [])]
      .map((e) => e.member)
      .sort((a, b) => (a.connectionId < b.connectionId ? -1 : 1))
  }

  /**
   * Opens `channel` from `since` as the transports do: an ordinary channel reads the log; a watch is a
   * resume from a whole state or a fresh snapshot; an enter makes `holder`'s member present (or carries the
   * refusal).
   */
  open(channel: string, since: Cursor | undefined, holder: object, token: string | undefined): OpenResult {
    const name = parsePresenceChannel(channel)
    if (!name) {
      const resume = this.log.resume(channel, since)
      return { ...resume, fresh: since === undefined || !resume.recovered }
    }
    if (name.connectionId === undefined) return this.#watch(channel, name.channel, since)
    return this.#enter(channel, name as Required<PresenceChannelName>, since, holder, token)
  }

  /** `holder` let go of its member (its connection closed): it leaves after the grace unless held again. */
  release(holder: object): void {
    for (const [channel, entries] of this.#channels)
      for (const [id, entry] of entries) {
        if (!entry.holders.delete(holder) || entry.holders.size > 0) continue
        globalThis.clearTimeout(entry.graceTimer)
        entry.graceTimer = globalThis.setTimeout(
          () => this.remove(channel, id, 'expired'),
          this.options.graceMs,
        )
      }
  }

  /** A member leaves now (`left`), or goes as one whose connection vanished (`expired`). */
  remove(channel: string, connectionId: string, reason: 'left' | 'expired'): boolean {
    const entries = this.#channels.get(channel)
    const entry = entries?.get(connectionId)
    if (!entries || !entry) return false
    globalThis.clearTimeout(entry.graceTimer)
    entries.delete(connectionId)
    if (entries.size === 0) this.#channels.delete(channel)
    this.#emit(channel, { event: 'leave', member: entry.member, reason, ...this.#counts(channel) })
    return true
  }

  /** A member the test adds, held by no connection (as if on another server); it stays until removed. */
  join(channel: string, member: { clientId: string; connectionId?: string; info?: unknown }): PresenceMember {
    const connectionId = member.connectionId ?? `mock-member-${this.#nextId++}`
    const joined: PresenceMember = {
      clientId: member.clientId,
      connectionId,
      ...(member.info === undefined ? {} : { info: this.#checkInfo(member.info) }),
    }
    const entries = this.#of(channel)
    const present = entries.get(connectionId)
    if (present) throw new TypeError(`[holdfast mock] "${connectionId}" is present in "${channel}" already`)
    entries.set(connectionId, { member: joined, holders: new Set(), graceTimer: undefined })
    this.#emit(channel, { event: 'join', member: joined, ...this.#counts(channel) })
    return joined
  }

  /** New info for a present member: an `update` event. */
  update(channel: string, connectionId: string, info: unknown): boolean {
    const entry = this.#channels.get(channel)?.get(connectionId)
    if (!entry) return false
    const checked = info === null ? undefined : this.#checkInfo(info)
    if (JSON.stringify(checked) === JSON.stringify(entry.member.info)) return true
    const { info: _old, ...rest } = entry.member
    entry.member = checked === undefined ? rest : { ...rest, info: checked }
    this.#emit(channel, { event: 'update', member: entry.member, ...this.#counts(channel) })
    return true
  }

  /**
   * A client's publish to its enter channel: `{"info":…}`, `{"touch":true}`, `{"leave":true}`. Returns false
   * for an ordinary channel (store it as usual); throws `MockPresenceError` for a refused one.
   */
  publish(channel: string, data: unknown): boolean {
    const name = parsePresenceChannel(channel)
    if (!name) return false
    if (name.connectionId === undefined)
      throw new MockPresenceError('forbidden', `"${channel}" is written by the server only`)
    const body = data as Record<string, unknown>
    const keys = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : []
    if (keys.length === 1 && keys[0] === 'info') {
      const info = body.info === null ? undefined : this.#checkInfo(body.info)
      if (!this.update(name.channel, name.connectionId, info ?? null)) {
        const pending = this.#pending.get(name.channel) ?? new Map<string, unknown>()
        this.#pending.set(name.channel, pending)
        pending.set(name.connectionId, info)
      }
      return true
    }
    if (keys.length === 1 && keys[0] === 'touch' && body.touch === true) return true
    if (keys.length === 1 && keys[0] === 'leave' && body.leave === true) {
      this.remove(name.channel, name.connectionId, 'left')
      return true
    }
    throw new MockPresenceError(
      'bad_request',
      'publish {"info":…}, {"touch":true} or {"leave":true} to a presence enter channel',
    )
  }

  clear(): void {
    for (const entries of this.#channels.values())
      for (const entry of entries.values()) globalThis.clearTimeout(entry.graceTimer)
    this.#channels.clear()
    this.#pending.clear()
    this.#nextId = 1
  }

  #watch(log: string, channel: string, since: Cursor | undefined): OpenResult {
    const at = since === undefined ? null : parseCursor(since)
    // A resume from a whole state (an event, or a snapshot's last page) replays the log after it.
    if (at && (at.minor === 0 || at.minor === 999_999)) {
      const resume = this.log.resume(log, formatPosition(at.epoch, { major: at.major, minor: 0 }))
      if (resume.recovered) return { ...resume, startFrom: since!, fresh: false }
    }
    const head = parseCursor(this.log.resume(log, undefined).head)!
    const members = this.members(channel)
    const start = snapshotCursor(head.epoch, head.major, 'start')
    const page: StoredMessage = {
      channel: log,
      cursor: snapshotCursor(head.epoch, head.major, 'last'),
      data: { event: 'snapshot', members, ...this.#counts(channel), more: false } satisfies PresenceEvent,
    }
    // A client past this very snapshot's start would drop its page as a duplicate: it starts over.
    const recovered = !(at && at.epoch === head.epoch && at.major === head.major && at.minor >= 2)
    return {
      channel: log,
      epoch: head.epoch,
      head: start,
      recovered,
      replay: [page],
      startFrom: start,
      fresh: true,
    }
  }

  #enter(
    channel: string,
    name: Required<PresenceChannelName>,
    since: Cursor | undefined,
    holder: object,
    token: string | undefined,
  ): OpenResult {
    const at = since === undefined ? null : parseCursor(since)
    const cursor = at ? since! : `${ENTER_EPOCH}:0`
    const result: OpenResult = {
      channel,
      epoch: at ? at.epoch : ENTER_EPOCH,
      head: cursor,
      recovered: true,
      replay: [],
      startFrom: cursor,
      fresh: since === undefined,
    }
    const entries = this.#of(name.channel)
    const present = entries.get(name.connectionId)
    if (present) {
      globalThis.clearTimeout(present.graceTimer)
      present.graceTimer = undefined
      present.holders.add(holder)
      return result
    }
    if (entries.size >= this.options.maxMembers) {
      if (entries.size === 0) this.#channels.delete(name.channel)
      // Sent once: a resume from the refusal's cursor is not refused again in words.
      if (!at || at.major === 0) {
        const now = this.now()
        const refusal: PresenceRefusal = {
          event: 'refused',
          code: 'too_many_subscriptions',
          message: `[holdfast mock] "${name.channel}" has ${this.options.maxMembers} members, the most presenceMaxMembers allows`,
        }
        result.replay = [
          {
            channel: presenceEnterChannel(name.channel, name.connectionId),
            cursor: `${result.epoch}:${now}`,
            data: refusal,
          },
        ]
      }
      return result
    }
    const pending = this.#pending.get(name.channel)
    const info = pending?.get(name.connectionId)
    pending?.delete(name.connectionId)
    if (pending?.size === 0) this.#pending.delete(name.channel)
    const member: PresenceMember = {
      clientId: this.options.clientId(token) ?? name.connectionId,
      connectionId: name.connectionId,
      ...(info === undefined ? {} : { info }),
    }
    entries.set(name.connectionId, { member, holders: new Set([holder]), graceTimer: undefined })
    this.#emit(name.channel, { event: 'join', member, ...this.#counts(name.channel) })
    return result
  }

  #of(channel: string): Map<string, Entry> {
    let entries = this.#channels.get(channel)
    if (!entries) {
      entries = new Map()
      this.#channels.set(channel, entries)
    }
    return entries
  }

  #counts(channel: string): { count: number; clients: number } {
    const members = this.members(channel)
    return { count: members.length, clients: new Set(members.map((m) => m.clientId)).size }
  }

  #checkInfo(info: unknown): unknown {
    let json: string | undefined
    try {
      json = JSON.stringify(info)
    } catch {}
    if (json === undefined) throw new MockPresenceError('bad_request', 'info must be JSON')
    const bytes = UTF8.encode(json).length
    if (bytes > this.options.maxInfoBytes)
      throw new MockPresenceError(
        'message_too_large',
        `info is ${bytes} bytes of JSON; presenceMaxInfoBytes is ${this.options.maxInfoBytes}: send less`,
      )
    return JSON.parse(json) as unknown
  }

  #emit(channel: string, event: PresenceEvent): void {
    this.log.append(presenceChannel(channel), event)
  }
}
