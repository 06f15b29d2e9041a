import { parseCursor } from '@holdfast/protocol'
import {
  decodePresenceEvent,
  type PresenceMember,
  presenceChannel,
  presenceEnterChannel,
} from '@holdfast/protocol/presence'
import type { HoldfastClient } from '../core/HoldfastClient'
import { Timer, type Timers } from '../core/timers'
import type { Message, Subscription } from '../core/types'
import { HoldfastError } from '../HoldfastError'

/** One client (a `clientId`) with every connection it has in the channel: "alice", not "alice ×3". */
export interface PresenceUser<TInfo = unknown> {
  clientId: string
  /** The info of its first connection (by connection id); connections may each declare their own. */
  info: TInfo | undefined
  /** Its members, one per connection, by connection id. */
  connections: readonly PresenceMember<TInfo>[]
}

/** Where a channel's presence stands. Switch on `status`. */
export interface PresenceState<TInfo = unknown> {
  /**
   * `syncing` until the first whole snapshot arrived (and again after history was lost), `live` from then
   * on, `error` when the server refused the watch (`error` says why; what was known stays readable).
   */
  status: 'syncing' | 'live' | 'error'
  /** Everyone present, by client id. A snapshot capped by the server lists fewer than `clients`. */
  members: readonly PresenceUser<TInfo>[]
  /** Members (connections) present, as the server counts them. */
  count: number
  /** Distinct client ids present, as the server counts them. */
  clients: number
  /** This client's own member while it has entered and the server shows it present. */
  me: PresenceMember<TInfo> | undefined
  /** The last refusal: of the watch (`forbidden`), of entering (`too_many_subscriptions`, `message_too_large`), … */
  error: HoldfastError | undefined
}

/** Events of `presence()`: per client (its first connection joins, its last one leaves), and every change. */
export interface PresenceEvents<TInfo = unknown> {
  join: PresenceUser<TInfo>
  leave: PresenceUser<TInfo>
  /** A present client's info or set of connections changed. */
  update: PresenceUser<TInfo>
  /** Anything changed; the new state. */
  change: PresenceState<TInfo>
  error: HoldfastError
}

/** Options of `presence()`. All optional. */
export interface PresenceOptions<TInfo = unknown> {
  /** Enter (be a member) as well as watch. Same as calling `enter(info)` at once. Defaults to false. */
  enter?: boolean
  /**
   * The info to enter with (small JSON; the server's `presence.maxInfoBytes`, 1 KiB by default, bounds it).
   * A token with an `info` claim sets the info itself, and this is refused. Defaults to none.
   */
  info?: TInfo
  /**
   * Over SSE the server cannot tell a vanished client from a quiet one, so a member keeps itself alive
   * with a touch this often. Defaults to 30000, well inside the server's `presence.sseTtlMs` (120000).
   */
  touchIntervalMs?: number
  /** Timer functions. Defaults to the global ones, read at call time (so fake timers work). */
  timers?: Timers
}

type Listener = (payload: never) => void
interface EnterSession {
  id: string
  subscription: Subscription | undefined
}
const NO_USERS: readonly PresenceUser<never>[] = Object.freeze([])
const ENTER_ID_BYTES = 16

function randomId(): string {
  const bytes = new Uint8Array(ENTER_ID_BYTES)
  globalThis.crypto.getRandomValues(bytes)
  let id = ''
  for (const b of bytes) id += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[b & 63]
  return id
}

/**
 * One channel's presence for one client, shared by every `presence()` handle of that client and channel:
 * one watch subscription, one member when any handle entered. The member keeps its connection id across
 * reconnects (so a blip within the server's grace shows nothing); a new one per `enter()` after a `leave()`.
 */
export class PresenceChannel<TInfo = unknown> {
  readonly channel: string
  readonly #client: HoldfastClient
  readonly #timers: Timers
  readonly #touchIntervalMs: number
  readonly #listeners = new Set<Partial<Record<keyof PresenceEvents<TInfo>, Listener>> & { handle: object }>()
  /** Members by connection id. */
  #members = new Map<string, PresenceMember<TInfo>>()
  /** Snapshot pages received so far, and the log position (epoch:major) they belong to. */
  #pages: { at: string; members: PresenceMember<TInfo>[] } | undefined
  #watch: Subscription | undefined
  #state: PresenceState<TInfo> = {
    status: 'syncing',
    members: NO_USERS,
    count: 0,
    clients: 0,
    me: undefined,
    error: undefined,
  }
  /** Handles that entered, and the info the latest of them gave. */
  readonly #entered = new Set<object>()
  #info: { value: TInfo } | undefined
  /** The info is the token's: declaring another is refused, so it is not tried again. */
  #fixedInfo = false
  /** The current enter session: its connection id and subscription. */
  #enter: EnterSession | undefined
  #handles = 0
  /** Bumped by every acquire (cancels a pending release) and every enter (cancels a pending leave). */
  #releaseToken = 0
  #enterToken = 0
  /** An info publish in flight for the current session: a mismatch seen meanwhile is not sent twice. */
  #publishing = false
  readonly #touch: Timer
  readonly #onRelease: () => void

  constructor(
    client: HoldfastClient,
    channel: string,
    options: PresenceOptions<TInfo>,
    onRelease: () => void,
  ) {
    this.channel = channel
    this.#client = client
    this.#timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    }
    this.#touchIntervalMs = options.touchIntervalMs ?? 30_000
    this.#touch = new Timer(this.#timers)
    this.#onRelease = onRelease
    this.#watch = client.subscribe(presenceChannel(channel), (message) => this.#onMessage(message), {
      onGap: () => {
        this.#pages = undefined
        this.#set({ status: this.#state.status === 'error' ? 'error' : 'syncing' })
      },
      onError: (error) => this.#fail(error),
    })
  }

  get state(): PresenceState<TInfo> {
    return this.#state
  }

  /** A new handle uses this channel (cancels a release pending from StrictMode's simulated unmount). */
  acquire(): void {
    this.#handles++
    this.#releaseToken++
  }

  /** A handle is done; the last one unsubscribes a microtask later, unless another handle comes meanwhile. */
  releaseHandle(handle: object): void {
    this.#leaveFor(handle)
    for (const entry of this.#listeners) if (entry.handle === handle) this.#listeners.delete(entry)
    if (--this.#handles > 0) return
    const token = ++this.#releaseToken
    queueMicrotask(() => {
      if (token !== this.#releaseToken || this.#handles > 0) return
      this.#stopEnter()
      this.#watch?.unsubscribe()
      this.#watch = undefined
      this.#touch.cancel()
      this.#onRelease()
    })
  }

  on<K extends keyof PresenceEvents<TInfo>>(
    handle: object,
    event: K,
    fn: (payload: PresenceEvents<TInfo>[K]) => void,
  ): () => void {
    const entry = { handle, [event]: fn as Listener }
    this.#listeners.add(entry)
    return () => this.#listeners.delete(entry)
  }

  /** `handle` enters, with `info` when given (the latest info any handle gave wins). */
  enterFor(handle: object, info: { value: TInfo } | undefined): void {
    this.#entered.add(handle)
    this.#enterToken++
    if (info) this.#declare(info)
    if (!this.#enter) this.#startEnter()
  }

  /** `handle` leaves; the member leaves once no handle is in (a microtask later: StrictMode remounts). */
  #leaveFor(handle: object): void {
    if (!this.#entered.delete(handle) || this.#entered.size > 0) return
    const token = ++this.#enterToken
    queueMicrotask(() => {
      if (token === this.#enterToken && this.#entered.size === 0) this.#stopEnter()
    })
  }

  leaveFor(handle: object): void {
    this.#leaveFor(handle)
  }

  updateInfo(info: TInfo): void {
    this.#declare({ value: info })
  }

  #declare(info: { value: TInfo }): void {
    const changed = JSON.stringify(info.value) !== JSON.stringify(this.#info?.value)
    this.#info = info
    // Entered already: the server updates the member. Not yet: the enter publishes it first.
    if (changed && this.#enter?.subscription) void this.#publishInfo(this.#enter.id)
  }

  #startEnter(): void {
    const session: EnterSession = { id: randomId(), subscription: undefined }
    this.#enter = session
    this.#set({ error: undefined })
    // Declared info goes first, so the join carries it (the server keeps it for the member to come).
    const ready = this.#info && !this.#fixedInfo ? this.#publishInfo(session.id) : Promise.resolve(true)
    void ready.then((declared) => {
      if (this.#enter !== session) return
      // Info the server refused (too large, not JSON) is a refused enter, not a member without it.
      if (declared) this.#subscribeEnter(session)
      else this.#stopEnter(false)
    })
  }

  #subscribeEnter(session: EnterSession): void {
    session.subscription = this.#client.subscribe(
      presenceEnterChannel(this.channel, session.id),
      (message) => {
        const refusal = decodePresenceEvent(message.data)
        if (refusal?.event !== 'refused') return
        // Not let in (the channel is full, the token's info too large): stop asking on every reconnect.
        this.#stopEnter(false)
        this.#fail(new HoldfastError(refusal.code, refusal.message), false)
      },
      {
        onError: (error) => {
          this.#stopEnter(false)
          this.#fail(error, false)
        },
        onSubscribed: () => this.#scheduleTouch(),
      },
    )
  }

  /**
   * Re-enters with the same connection id: the server took the member out (it expired) while we want in.
   * Unsubscribing and subscribing in one go sends one subscribe, which replaces the old one on the server:
   * no leave, and no join if the member came back meanwhile (a reconnect re-entered it already).
   */
  #reenter(): void {
    const session = this.#enter
    if (!session?.subscription) return
    session.subscription.unsubscribe()
    this.#subscribeEnter(session)
  }

  #stopEnter(announce = true): void {
    const session = this.#enter
    if (!session) return
    this.#enter = undefined
    this.#touch.cancel()
    this.#set({})
    const subscription = session.subscription
    session.subscription = undefined
    subscription?.unsubscribe()
    // Over SSE and long polling an unsubscribe only shows at the next request, which ends in the grace:
    // say so now. (On a WebSocket the unsubscribe frame itself is the leave.)
    const transport = this.#client.state.transport
    if (announce && subscription && this.#client.state.status === 'connected' && transport !== 'websocket')
      this.#client.publish(presenceEnterChannel(this.channel, session.id), { leave: true }).catch(() => {})
  }

  /** Declares our info; resolves whether entering may go on (it did, or the token's info claim rules). */
  #publishInfo(id: string): Promise<boolean> {
    this.#publishing = true
    return this.#client
      .publish(presenceEnterChannel(this.channel, id), { info: this.#info?.value ?? null })
      .then(
        () => {
          this.#publishing = false
          return true
        },
        (error: unknown) => {
          this.#publishing = false
          const e = HoldfastError.from(error)
          this.#fail(e, false)
          // The token's info claim is the member's info: enter without declaring.
          if (e.code !== 'forbidden') return false
          this.#fixedInfo = true
          return true
        },
      )
  }

  #scheduleTouch(): void {
    this.#touch.start(this.#touchIntervalMs, () => {
      const session = this.#enter
      if (!session?.subscription) return
      const { status, transport } = this.#client.state
      if (status === 'connected' && transport === 'sse')
        this.#client.publish(presenceEnterChannel(this.channel, session.id), { touch: true }).catch(() => {})
      this.#scheduleTouch()
    })
  }

  #onMessage(message: Message): void {
    const event = decodePresenceEvent(message.data)
    if (!event || event.event === 'refused') {
      this.#emit('error', new HoldfastError('bad_frame', `not a presence event on ${message.channel}`))
      return
    }
    const members = this.#members
    const before = this.#usersOf(members)
    if (event.event === 'snapshot') {
      const at = parseCursor(message.cursor)
      const key = at ? `${at.epoch}:${at.major}` : message.cursor
      if (this.#pages?.at !== key) this.#pages = { at: key, members: [] }
      this.#pages.members.push(...(event.members as PresenceMember<TInfo>[]))
      if (event.more) return
      this.#members = new Map(this.#pages.members.map((m) => [memberKey(m), m]))
      this.#pages = undefined
    } else if (event.event === 'leave') members.delete(memberKey(event.member))
    else members.set(memberKey(event.member), event.member as PresenceMember<TInfo>)
    const after = this.#usersOf(this.#members)
    this.#set({ status: 'live', count: event.count, clients: event.clients, members: [...after.values()] })
    for (const [clientId, user] of after) {
      const was = before.get(clientId)
      if (!was) this.#emit('join', user)
      else if (JSON.stringify(was) !== JSON.stringify(user)) this.#emit('update', user)
    }
    for (const [clientId, user] of before) if (!after.has(clientId)) this.#emit('leave', user)
    this.#emit('change', this.#state)
    this.#mind(event.event === 'leave' ? event : undefined)
  }

  /** Keeps our own member as we want it: back in after the server let it expire, with our info. */
  #mind(left: { member: PresenceMember; reason: string } | undefined): void {
    const session = this.#enter
    if (!session?.subscription) return
    if (left?.member.connectionId === session.id && left.reason === 'expired') {
      this.#reenter()
      return
    }
    const me = this.#own(session.id)
    const info = this.#info
    if (
      me &&
      info &&
      !this.#fixedInfo &&
      !this.#publishing &&
      JSON.stringify(me.info) !== JSON.stringify(info.value)
    )
      void this.#publishInfo(session.id)
  }

  /** Our own member: the one on our connection id (another user's member may reuse the id, never the pair). */
  #own(connectionId: string): PresenceMember<TInfo> | undefined {
    for (const member of this.#members.values()) if (member.connectionId === connectionId) return member
    return undefined
  }

  #usersOf(members: Map<string, PresenceMember<TInfo>>): Map<string, PresenceUser<TInfo>> {
    const users = new Map<string, PresenceUser<TInfo>>()
    const sorted = [...members.values()].sort((a, b) => (a.connectionId < b.connectionId ? -1 : 1))
    for (const member of sorted) {
      const user = users.get(member.clientId)
      if (user) (user.connections as PresenceMember<TInfo>[]).push(member)
      else users.set(member.clientId, { clientId: member.clientId, info: member.info, connections: [member] })
    }
    return new Map([...users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }

  #fail(error: HoldfastError, watch = true): void {
    this.#set({ error, ...(watch ? { status: 'error' as const } : {}) })
    this.#emit('error', error)
    this.#emit('change', this.#state)
  }

  #set(patch: Partial<PresenceState<TInfo>>): void {
    const next = { ...this.#state, ...patch }
    const id = this.#enter?.id
    next.me = id === undefined ? undefined : this.#own(id)
    this.#state = next
  }

  #emit<K extends keyof PresenceEvents<TInfo>>(event: K, payload: PresenceEvents<TInfo>[K]): void {
    for (const entry of [...this.#listeners]) {
      const fn = entry[event] as ((p: PresenceEvents<TInfo>[K]) => void) | undefined
      if (!fn) continue
      try {
        fn(payload)
      } catch (error) {
        // A listener that throws must not stop the others, nor presence itself.
        if (event !== 'error') queueMicrotask(() => this.#emit('error', HoldfastError.from(error)))
      }
    }
  }
}

/**
 * A member is a client id and a connection id together, as the server keys it (PROTOCOL.md §8): connection ids
 * are chosen by clients, so another user may send ours, and must never replace or remove our member.
 */
function memberKey(member: { clientId: string; connectionId: string }): string {
  return JSON.stringify([member.clientId, member.connectionId])
}
