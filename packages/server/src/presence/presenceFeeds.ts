import {
  type Cursor,
  comparePositions,
  formatPosition,
  type ParsedCursor,
  parseCursor,
} from '@holdfast/protocol'
import {
  type PresenceChannelName,
  parsePresenceChannel,
  presenceChannel,
  presenceEnterChannel,
  SNAPSHOT_DONE_MINOR,
  SNAPSHOT_START_MINOR,
  snapshotCursor,
} from '@holdfast/protocol/presence'
import type { AuthUser } from '../auth/createAuthenticator'
import type { ReadResult, StoredMessage } from '../broker/Broker'
import { createStoredMessage } from '../broker/createStoredMessage'
import { ChannelFeed, type FeedSink } from '../delivery/ChannelFeed'
import { HoldfastServerError } from '../HoldfastServerError'
import type { ServerContext } from '../ServerContext'
import type { SlowConsumerPolicy } from '../ServerOptions'
import type { PresenceHolder } from './PresenceService'
import type { PresenceSnapshot } from './PresenceStore'

/** One subscription of one connection, as the WebSocket and SSE handlers drive it. */
export interface Feed {
  readonly channel: string
  readonly closed: boolean
  /** Starts listening and reads where the subscription starts; `null` when closed meanwhile. */
  open(): Promise<ReadResult | null>
  /** Writes what `open` found, then goes live. */
  start(first: ReadResult): void
  /** Ends it. `leave`: the client unsubscribed (a presence member leaves now, not after the grace). */
  close(leave?: boolean): void
}

export interface FeedInit {
  channel: string
  since: Cursor | undefined
  sink: FeedSink
  user: AuthUser
  /** Who holds a presence member this subscription enters: the connection's kind. */
  holder: 'websocket' | 'sse'
}

/** Snapshot pages stay below this many bytes of member JSON (a page holds one member at least). */
const PAGE_BYTES = 64 * 1024
/** The epoch of enter channels, which have no log: their only message is a refusal. */
const ENTER_EPOCH = 'presence'

/** A channel's feed: an ordinary `ChannelFeed`, or a presence one for `~presence` names (PROTOCOL.md §8). */
export function createFeed(ctx: ServerContext, init: FeedInit): Feed {
  const name = parsePresenceChannel(init.channel)
  const policy = ctx.options.slowConsumer(init.channel)
  if (!name)
    return new ChannelFeed(ctx.feeds, { channel: init.channel, since: init.since, sink: init.sink, policy })
  if (name.connectionId === undefined) return new PresenceWatchFeed(ctx, init, name.channel, policy)
  return new PresenceEnterFeed(ctx, init, name as Required<PresenceChannelName>)
}

/**
 * The name's presence form, checked: `undefined` for an ordinary channel, else the parsed name. Throws
 * `invalid_channel` for a malformed `~presence` name and `bad_request` when the broker has no presence.
 */
export function presenceName(ctx: ServerContext, channel: string): PresenceChannelName | undefined {
  const name = parsePresenceChannel(channel)
  if (name === undefined) return undefined
  if (name === null)
    throw new HoldfastServerError(
      'invalid_channel',
      `"${channel.slice(0, 60)}" misuses the reserved "~presence": use <channel>~presence, or <channel>~presence~<id> with an id of 8 to 64 of A-Z a-z 0-9 _ -`,
    )
  void ctx.presence.store
  return name
}

/** Whether a resume cursor holds a whole state: an event, or the last page of a snapshot. */
function whole(at: ParsedCursor): boolean {
  return at.minor === 0 || at.minor === SNAPSHOT_DONE_MINOR
}

/** Where a watch starts: a resume in full from the log, or a snapshot with what follows it. */
interface WatchStart {
  /** The answer the transport reports (`subscribed`, SSE start, poll `subscribed` entry). */
  result: ReadResult
  /** Snapshot pages to send first; none on a resume. */
  pages: StoredMessage[]
  /** The feed of the log that follows (open, not started). */
  feed: ChannelFeed
  /** What that feed's `open` read. */
  first: ReadResult
}

/**
 * Opens the log of `<channel>~presence` for a watcher: from `since` when it holds a whole state and history
 * still has everything after it, else from a fresh snapshot whose pages come first. Returns `null` when
 * `isClosed()` turned true meanwhile.
 */
async function openWatch(
  ctx: ServerContext,
  channel: string,
  since: Cursor | undefined,
  makeFeed: (since: Cursor | undefined) => ChannelFeed,
  isClosed: () => boolean,
): Promise<WatchStart | null> {
  const log = presenceChannel(channel)
  const at = since === undefined ? null : parseCursor(since)
  if (at && whole(at)) {
    const feed = makeFeed(formatPosition(at.epoch, { major: at.major, minor: 0 }))
    const first = await feed.open()
    if (!first) return null
    if (first.recovered) return { result: { ...first, from: since! }, pages: [], feed, first }
    feed.close()
  }
  // The snapshot is read first, then the log from its head: a change in between is replayed, never missed.
  for (let attempt = 0; ; attempt++) {
    const snapshot = await ctx.presence.store.snapshot(channel, ctx.presence.options.snapshotLimit)
    if (isClosed()) return null
    const feed = makeFeed(snapshot.head)
    const first = await feed.open()
    if (!first) return null
    if (first.recovered && first.epoch === snapshot.epoch) {
      const head = parseCursor(snapshot.head)!
      const start = snapshotCursor(snapshot.epoch, head.major, 'start')
      // A client already past the snapshot's first page (it was cut off mid-snapshot at this very head)
      // would drop the new pages as duplicates: tell it to start over (recovered: false).
      const recovered = !(
        at &&
        at.epoch === snapshot.epoch &&
        comparePositions(at, { major: head.major, minor: SNAPSHOT_START_MINOR + 1 }) >= 0
      )
      return {
        result: { epoch: snapshot.epoch, head: start, recovered, from: start, messages: [], more: false },
        pages: snapshotPages(log, snapshot, head.major, ctx.clock.now()),
        feed,
        first,
      }
    }
    feed.close()
    // The log was lost or trimmed between the two reads (an epoch ended): read both again.
    if (attempt >= 2)
      throw new Error(`[holdfast] presence log of "${channel}" kept changing under its snapshot`)
  }
}

/** A snapshot as the messages that carry it: pages of at most `PAGE_BYTES` of members, `more` on all but the last. */
export function snapshotPages(
  log: string,
  snapshot: PresenceSnapshot,
  major: number,
  time: number,
): StoredMessage[] {
  const pages: string[][] = [[]]
  let bytes = 0
  for (const member of snapshot.members) {
    if (bytes + member.length > PAGE_BYTES && pages.at(-1)!.length > 0) {
      pages.push([])
      bytes = 0
    }
    pages.at(-1)!.push(member)
    bytes += member.length + 1
  }
  return pages.map((members, i) => {
    const last = i === pages.length - 1
    return createStoredMessage({
      channel: log,
      cursor: snapshotCursor(snapshot.epoch, major, last ? 'last' : i + 1),
      json: `{"event":"snapshot","members":[${members.join(',')}],"count":${snapshot.count},"clients":${snapshot.clients},"more":${!last}}`,
      time,
    })
  })
}

/** `<channel>~presence`: a snapshot (or a resume), then the join, update and leave events of the log. */
class PresenceWatchFeed implements Feed {
  readonly channel: string
  readonly #ctx: ServerContext
  readonly #init: FeedInit
  readonly #base: string
  readonly #policy: SlowConsumerPolicy
  #start: WatchStart | undefined
  #unwatch: (() => void) | undefined
  #closed = false

  constructor(ctx: ServerContext, init: FeedInit, base: string, policy: SlowConsumerPolicy) {
    this.channel = init.channel
    this.#ctx = ctx
    this.#init = init
    this.#base = base
    this.#policy = policy
  }

  get closed(): boolean {
    return this.#closed
  }

  async open(): Promise<ReadResult | null> {
    this.#unwatch = this.#ctx.presence.watch(this.#base)
    const start = await openWatch(
      this.#ctx,
      this.#base,
      this.#init.since,
      (since) =>
        new ChannelFeed(this.#ctx.feeds, {
          channel: this.channel,
          since,
          sink: this.#init.sink,
          policy: this.#policy,
        }),
      () => this.#closed,
    )
    if (!start || this.#closed) {
      start?.feed.close()
      return null
    }
    this.#start = start
    return start.result
  }

  start(): void {
    const start = this.#start
    if (!start || this.#closed) return
    void this.#write(start).catch(() => this.close())
  }

  async #write(start: WatchStart): Promise<void> {
    const sink = this.#init.sink
    const max = this.#ctx.feeds.maxBufferedBytes
    for (const page of start.pages) {
      // Paced like a replay: a large snapshot waits for room instead of filling the send buffer.
      if (sink.bufferedBytes() > max / 2) await sink.drained()
      if (this.#closed) return
      sink.write(page, false, this.#policy)
    }
    start.feed.start(start.first)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#start?.feed.close()
    this.#unwatch?.()
  }
}

/**
 * `<channel>~presence~<connectionId>`: the connection is a member while this subscription lasts. It carries
 * no messages, except one refusal when the member could not enter (the channel is full, the token's info is
 * too large): then the subscription stays, empty, so the client hears the refusal on every transport.
 */
class PresenceEnterFeed implements Feed {
  readonly channel: string
  readonly #ctx: ServerContext
  readonly #init: FeedInit
  readonly #name: Required<PresenceChannelName>
  readonly #owner: string
  #memberId: string | undefined
  #refusal: StoredMessage | undefined
  #unwatch: (() => void) | undefined
  #closed = false

  constructor(ctx: ServerContext, init: FeedInit, name: Required<PresenceChannelName>) {
    this.channel = init.channel
    this.#ctx = ctx
    this.#init = init
    this.#name = name
    this.#owner = ctx.presence.newOwner()
  }

  get closed(): boolean {
    return this.#closed
  }

  async open(): Promise<ReadResult | null> {
    const entered = await enterPresence(this.#ctx, this.#name, this.#init.user, this.#init.since, {
      kind: this.#init.holder,
      owner: this.#owner,
    })
    if (entered.memberId !== undefined) {
      this.#memberId = entered.memberId
      this.#unwatch = this.#ctx.presence.watch(this.#name.channel)
    }
    if (this.#closed) {
      this.#let(false)
      return null
    }
    this.#refusal = entered.result.messages[0]
    return entered.result
  }

  start(): void {
    if (this.#refusal && !this.#closed) this.#init.sink.write(this.#refusal, false, 'close')
  }

  close(leave = false): void {
    if (this.#closed) return
    this.#closed = true
    this.#let(leave)
  }

  #let(leave: boolean): void {
    const id = this.#memberId
    if (id === undefined) return
    this.#memberId = undefined
    const presence = this.#ctx.presence
    if (leave) presence.leave(this.#name.channel, id, this.#owner)
    else presence.release(this.#name.channel, id, this.#owner)
    this.#unwatch?.()
  }
}

/**
 * Enters a member for one enter subscription (or one long poll), as a `ReadResult` of its enter channel: no
 * messages, or the one refusal (sent once: a resume from a refusal's cursor is not refused again in words).
 */
export async function enterPresence(
  ctx: ServerContext,
  name: Required<PresenceChannelName>,
  user: AuthUser,
  since: Cursor | undefined,
  holder: PresenceHolder,
): Promise<{ result: ReadResult; memberId: string | undefined }> {
  const at = since === undefined ? null : parseCursor(since)
  const cursor = at ? since! : `${ENTER_EPOCH}:0`
  const result: ReadResult = {
    epoch: at ? at.epoch : ENTER_EPOCH,
    head: cursor,
    recovered: true,
    from: cursor,
    messages: [],
    more: false,
  }
  let refusal: HoldfastServerError
  try {
    const { record, fixedInfo } = ctx.presence.member(user, name.connectionId)
    const outcome = await ctx.presence.enter(name.channel, record, fixedInfo, holder)
    if (outcome !== 'full') return { result, memberId: record.id }
    refusal = new HoldfastServerError(
      'too_many_subscriptions',
      `"${name.channel}" has ${ctx.presence.options.maxMembers} members, the most presence.maxMembers allows; try again later`,
    )
  } catch (error) {
    const typed = HoldfastServerError.from(error)
    if (typed.code === 'internal') throw error
    refusal = typed
  }
  ctx.logger.debug({ channel: name.channel, code: refusal.code }, '[holdfast] presence enter refused')
  if (!at || at.major === 0) {
    const json = JSON.stringify({ event: 'refused', code: refusal.code, message: refusal.message })
    const now = ctx.clock.now()
    result.messages = [
      createStoredMessage({
        channel: presenceEnterChannel(name.channel, name.connectionId),
        cursor: `${result.epoch}:${now}`,
        json,
        time: now,
      }),
    ]
  }
  return { result, memberId: undefined }
}

/**
 * A long poll's read of a presence channel: the watch as `openWatch` starts it (snapshot pages and all), or
 * the enter, renewed for this poll. `whole`: the answer must carry every message (a snapshot is never split
 * across polls: the next poll would start it over).
 */
export async function pollPresence(
  ctx: ServerContext,
  name: PresenceChannelName,
  since: Cursor | undefined,
  user: AuthUser,
  holdMs: number,
  limit: number,
): Promise<ReadResult & { whole?: boolean }> {
  if (name.connectionId !== undefined) {
    const holder: PresenceHolder = { kind: 'poll', owner: ctx.presence.newOwner(), holdMs }
    return (await enterPresence(ctx, name as Required<PresenceChannelName>, user, since, holder)).result
  }
  ctx.presence.watchedByPoll(name.channel, holdMs)
  const log = presenceChannel(name.channel)
  const start = await openWatch(
    ctx,
    name.channel,
    since,
    // A poll reads; it never listens (the poll handler listens for the wake-up on its own).
    (from) => readOnce(ctx, log, from, limit),
    () => false,
  )
  const { result, pages, first } = start!
  return {
    ...result,
    messages: [...pages, ...first.messages],
    more: first.more,
    whole: pages.length > 0,
  }
}

/** Something shaped like a ChannelFeed that only reads once: what `openWatch` needs for a poll. */
function readOnce(ctx: ServerContext, log: string, since: Cursor | undefined, limit: number): ChannelFeed {
  const read = () => ctx.broker.read(log, { ...(since === undefined ? {} : { since }), limit })
  return { open: read, close() {} } as unknown as ChannelFeed
}
