import { randomBytes } from 'node:crypto'
import type { PresenceChannelName } from '@holdfast/protocol/presence'
import type { AuthUser } from '../auth/createAuthenticator'
import { type Clock, type TimerHandle, unrefTimer } from '../Clock'
import { HoldfastServerError } from '../HoldfastServerError'
import { errorFields, type Logger } from '../Logger'
import type { PresenceOptions } from '../ServerOptions'
import { type EnterOutcome, type MemberRecord, memberId, type PresenceStore } from './PresenceStore'

/** How long info a client declares before it enters waits for it (PROTOCOL.md §8). */
export const PENDING_INFO_MS = 60_000
const MAX_CLIENT_ID_LENGTH = 256

/** Who holds a member: a WebSocket, an SSE stream, or one long poll (`holdMs`: how long it is held). */
export type PresenceHolder =
  | { kind: 'websocket' | 'sse'; owner: string }
  | { kind: 'poll'; owner: string; holdMs: number }

interface Sweep {
  /** Watchers and members held here. */
  refs: number
  /** When to sweep next. */
  at: number
  /** Keep sweeping until then even without refs (a member released or renewed by a poll here). */
  keepUntil: number
  running: boolean
}

/**
 * The server's side of presence: who a member is (client id, info), how long it lives on each transport,
 * the refresh of members this process holds over WebSockets, and the sweeps of the channels it serves.
 * The state itself lives in `broker.presence`, shared by every process on one Redis.
 */
export class PresenceService {
  readonly #store: PresenceStore | undefined
  readonly #options: Required<PresenceOptions>
  readonly #clock: Clock
  readonly #logger: Logger
  readonly #prefix = randomBytes(6).toString('base64url')
  #owners = 0
  /** Members held by this process's WebSockets, per channel: owner → member id. Refreshed every ttlMs / 3. */
  readonly #held = new Map<string, Map<string, string>>()
  readonly #sweeps = new Map<string, Sweep>()
  #sweepTimer: TimerHandle | undefined
  #refreshTimer: TimerHandle | undefined
  #closed = false

  constructor(
    store: PresenceStore | undefined,
    options: Required<PresenceOptions>,
    clock: Clock,
    logger: Logger,
  ) {
    this.#store = store
    this.#options = options
    this.#clock = clock
    this.#logger = logger
  }

  get options(): Required<PresenceOptions> {
    return this.#options
  }

  /** The broker's presence store; throws `bad_request` when the broker has none. */
  get store(): PresenceStore {
    if (!this.#store)
      throw new HoldfastServerError(
        'bad_request',
        'this server has no presence: its broker has no `presence` store (memoryBroker and redisBroker do)',
      )
    return this.#store
  }

  /** A new owner id, unique across processes: one per enter subscription or poll. */
  newOwner(): string {
    return `${this.#prefix}.${(++this.#owners).toString(36)}`
  }

  /**
   * The member a user is on `connectionId`: the token's `sub` as client id (else the connection id) and the
   * token's `info` claim as info. Throws a typed error for a client id or an info past the bounds.
   */
  member(user: AuthUser, connectionId: string): { record: MemberRecord; fixedInfo: boolean } {
    const sub = user?.sub
    const clientId = typeof sub === 'string' && sub !== '' ? sub : connectionId
    if (clientId.length > MAX_CLIENT_ID_LENGTH)
      throw new HoldfastServerError(
        'bad_request',
        `the token's sub is ${clientId.length} characters; presence allows client ids of at most ${MAX_CLIENT_ID_LENGTH}`,
      )
    const fixedInfo = user !== null && Object.hasOwn(user, 'info') && user.info !== null
    const record: MemberRecord = { id: memberId(clientId, connectionId), clientId, connectionId }
    if (fixedInfo) record.info = this.encodeInfo(user.info, "the token's info claim")
    return { record, fixedInfo }
  }

  /** Info as JSON text within `maxInfoBytes`; `message_too_large` past it, `bad_request` when not JSON. */
  encodeInfo(info: unknown, what = 'info'): string {
    let json: string | undefined
    try {
      json = JSON.stringify(info)
    } catch {}
    if (json === undefined) throw new HoldfastServerError('bad_request', `${what} must be JSON`)
    const bytes = Buffer.byteLength(json)
    if (bytes > this.#options.maxInfoBytes)
      throw new HoldfastServerError(
        'message_too_large',
        `${what} is ${bytes} bytes of JSON; presence.maxInfoBytes is ${this.#options.maxInfoBytes}: send less`,
      )
    return json
  }

  /** Enters (or takes over) a member for a holder; `full` when the channel has `maxMembers` already. */
  async enter(
    channel: string,
    record: MemberRecord,
    fixedInfo: boolean,
    holder: PresenceHolder,
  ): Promise<EnterOutcome> {
    const ttlMs =
      holder.kind === 'poll'
        ? holder.holdMs + this.#options.graceMs
        : holder.kind === 'sse'
          ? this.#options.sseTtlMs
          : this.#options.ttlMs
    const outcome = await this.store.enter(channel, record, {
      owner: holder.owner,
      ttlMs,
      maxMembers: this.#options.maxMembers,
      fixedInfo,
    })
    if (outcome === 'full' || this.#closed) return outcome
    // Members that nothing refreshes on its own (a poll's, an SSE stream's: the client touches) expire at their
    // deadline: a sweep must be due then, whatever the WebSocket refresh rounds are.
    if (holder.kind !== 'websocket') this.#keepSweeping(channel, ttlMs)
    else {
      const held = this.#held.get(channel) ?? new Map<string, string>()
      this.#held.set(channel, held)
      held.set(holder.owner, record.id)
      this.#scheduleRefresh()
    }
    return outcome
  }

  /** The member's WebSocket or SSE stream is gone: it leaves after `graceMs` unless it comes back. */
  release(channel: string, id: string, owner: string): void {
    this.#unhold(channel, owner)
    const graceMs = this.#options.graceMs
    this.#keepSweeping(channel, graceMs)
    this.#quietly(this.store.release(channel, id, owner, graceMs), 'release')
  }

  /** Leaves now: the client unsubscribed from its enter channel. */
  leave(channel: string, id: string, owner: string): void {
    this.#unhold(channel, owner)
    this.#quietly(this.store.leave(channel, id), 'leave')
  }

  /** Sweeps `channel` while someone here watches its presence or holds a member of it; returns the release. */
  watch(channel: string): () => void {
    this.#ref(channel, 1)
    let done = false
    return () => {
      if (done) return
      done = true
      this.#ref(channel, -1)
    }
  }

  /** A long poll watched `channel`: keep sweeping it until its next poll is due. */
  watchedByPoll(channel: string, holdMs: number): void {
    this.#keepSweeping(channel, holdMs + this.#options.graceMs)
  }

  /**
   * A client's publish to its enter channel: `{"info":…}` declares its info, `{"touch":true}` keeps an SSE
   * membership alive, `{"leave":true}` leaves now. Anything else is `bad_request`.
   */
  async publish(user: AuthUser, name: Required<PresenceChannelName>, data: unknown): Promise<void> {
    const store = this.store
    const body = data as Record<string, unknown>
    const keys = typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.keys(body) : []
    const { record, fixedInfo } = this.member(user, name.connectionId)
    if (keys.length === 1 && keys[0] === 'info') {
      if (fixedInfo)
        throw new HoldfastServerError(
          'forbidden',
          "the token's info claim is this member's info; a client cannot declare another",
        )
      const declared = body.info === null ? undefined : this.encodeInfo(body.info)
      const declaredRecord = declared === undefined ? record : { ...record, info: declared }
      await store.declare(name.channel, declaredRecord, PENDING_INFO_MS)
      return
    }
    if (keys.length === 1 && keys[0] === 'touch' && body.touch === true) {
      await store.refresh(name.channel, [{ id: record.id }], this.#options.sseTtlMs)
      this.#keepSweeping(name.channel, this.#options.sseTtlMs)
      return
    }
    if (keys.length === 1 && keys[0] === 'leave' && body.leave === true) {
      await store.leave(name.channel, record.id)
      return
    }
    throw new HoldfastServerError(
      'bad_request',
      'publish {"info":…}, {"touch":true} or {"leave":true} to a presence enter channel',
    )
  }

  close(): void {
    this.#closed = true
    this.#clock.clearTimeout(this.#sweepTimer)
    this.#clock.clearTimeout(this.#refreshTimer)
    this.#sweepTimer = this.#refreshTimer = undefined
    this.#held.clear()
    this.#sweeps.clear()
  }

  #unhold(channel: string, owner: string): void {
    const held = this.#held.get(channel)
    if (held?.delete(owner) && held.size === 0) this.#held.delete(channel)
  }

  #sweep(channel: string): Sweep {
    let sweep = this.#sweeps.get(channel)
    if (!sweep) {
      const now = this.#clock.now()
      sweep = { refs: 0, at: now + this.#options.ttlMs, keepUntil: now, running: false }
      this.#sweeps.set(channel, sweep)
      this.#scheduleSweeps()
    }
    return sweep
  }

  #ref(channel: string, delta: number): void {
    if (this.#closed) return
    const sweep = this.#sweep(channel)
    sweep.refs = Math.max(0, sweep.refs + delta)
  }

  /** Something here set a deadline `inMs` from now: sweep then, and until then even without refs. */
  #keepSweeping(channel: string, inMs: number): void {
    if (this.#closed) return
    const sweep = this.#sweep(channel)
    const at = this.#clock.now() + inMs
    sweep.at = Math.min(sweep.at, at)
    sweep.keepUntil = Math.max(sweep.keepUntil, at + this.#options.sweepIntervalMs)
  }

  #scheduleSweeps(): void {
    if (this.#sweepTimer !== undefined || this.#closed) return
    this.#sweepTimer = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined
      this.#runSweeps()
      if (this.#sweeps.size > 0) this.#scheduleSweeps()
    }, this.#options.sweepIntervalMs)
    unrefTimer(this.#sweepTimer)
  }

  #runSweeps(): void {
    const now = this.#clock.now()
    for (const [channel, sweep] of this.#sweeps) {
      if (sweep.running || sweep.at > now) continue
      sweep.running = true
      this.store
        .sweep(channel)
        .then(
          (nextInMs) => {
            // Every ttlMs at least: a process elsewhere may die holding members this one has not seen yet.
            sweep.at = this.#clock.now() + Math.min(nextInMs ?? this.#options.ttlMs, this.#options.ttlMs)
          },
          (error: unknown) => {
            sweep.at = this.#clock.now() + this.#options.sweepIntervalMs
            this.#logger.debug({ channel, ...errorFields(error) }, '[holdfast] presence sweep failed')
          },
        )
        .finally(() => {
          sweep.running = false
          if (sweep.refs === 0 && this.#clock.now() >= sweep.keepUntil && this.#sweeps.get(channel) === sweep)
            this.#sweeps.delete(channel)
        })
    }
  }

  #scheduleRefresh(): void {
    if (this.#refreshTimer !== undefined || this.#closed) return
    this.#refreshTimer = this.#clock.setTimeout(
      () => {
        this.#refreshTimer = undefined
        for (const [channel, held] of this.#held) {
          const members = [...held].map(([owner, id]) => ({ id, owner }))
          this.#quietly(this.store.refresh(channel, members, this.#options.ttlMs), 'refresh')
        }
        if (this.#held.size > 0) this.#scheduleRefresh()
      },
      Math.floor(this.#options.ttlMs / 3),
    )
    unrefTimer(this.#refreshTimer)
  }

  #quietly(work: Promise<unknown>, what: string): void {
    work.catch((error: unknown) =>
      this.#logger.debug(
        errorFields(error),
        `[holdfast] presence ${what} failed; the member's deadline bounds it`,
      ),
    )
  }
}
