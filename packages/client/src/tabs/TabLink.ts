import { Timer, type Timers } from '../core/timers'
import type { Hub, HubLink } from './Hub'
import type { AnyMessage, LeaderMessage, LeaderState, TabMessage, TabPost } from './messages'

/** The part of `navigator.locks` (Web Locks) that sharing uses. */
export interface LockManagerLike {
  request(
    name: string,
    options: { mode?: 'exclusive'; signal?: AbortSignal; steal?: boolean },
    callback: (lock: unknown) => unknown,
  ): Promise<unknown>
}

/** A `BroadcastChannel` class: only what sharing uses. */
export type BroadcastChannelConstructor = new (
  name: string,
) => {
  onmessage: ((event: MessageEvent) => void) | null
  postMessage(message: unknown): void
  close(): void
}

type Channel = InstanceType<BroadcastChannelConstructor>

/** A tab's part in sharing: `leader` holds the one connection, a `follower` goes through it. */
export type TabRole = 'leader' | 'follower'

/** The current leader, as this tab knows it. */
export interface KnownLeader {
  id: string
  term: number
  state: LeaderState
}

export interface TabLinkOptions {
  /** `<url> <user>`: tabs share per scope. */
  scope: Promise<string>
  locks: LockManagerLike
  BroadcastChannel: BroadcastChannelConstructor
  timers: Timers
  now: () => number
  random: () => number
  pingIntervalMs: number
  leaderTimeoutMs: number
  /** Where the page's `freeze` and `resume` events are heard (Page Lifecycle), if anywhere. */
  lifecycle: EventTarget | undefined
  /** Starts this tab's hub: it won the election. */
  lead(link: HubLink): Hub
  role(role: TabRole): void
}

/**
 * One tab's membership in the election and its line to the leader. The leader is whoever holds the Web Lock
 * `holdfast <url> <user>`: the browser grants it to one tab at a time and releases it when that tab closes
 * or crashes, so the next tab in the queue takes over at once. Each tab also holds a lock of its own for its
 * whole life, which the leader waits on to learn that the tab is gone. A follower pings a leader that has
 * been silent for `pingIntervalMs` (on wall-clock time, so a follower's own late timers do not count against
 * the leader) and steals the lock from one that answers nothing for `leaderTimeoutMs`: a frozen or hung
 * leader. The deposed leader stops when it hears of the new one (higher term) or of the theft.
 */
export class TabLink {
  readonly id: string
  readonly #options: TabLinkOptions
  readonly #listeners = new Set<(message: LeaderMessage) => void>()
  /** Liveness of the leader, on wall-clock time: see `#check`. */
  readonly #watch: Timer
  readonly #stealTimer: Timer
  #heardAt = 0
  #dueAt = 0
  #leader: KnownLeader | undefined
  #hub: Hub | undefined
  #hubChannel: Channel | undefined
  #channel: Channel | undefined
  #name = ''
  #term = 0
  /** Bumped by `start()` and `close()`, so the steps of an older start stop on their own. */
  #generation = 0
  #running = false
  /** The page is frozen (Page Lifecycle): it does not lead, nor queue to. */
  #frozen = false
  /** The queued request for the leader lock, and the request that holds it (each request is its own object). */
  #queued: AbortController | undefined
  #holding: object | undefined
  #release: (() => void) | undefined
  #releaseTab: (() => void) | undefined

  constructor(options: TabLinkOptions) {
    this.#options = options
    // Not from the injectable `random`: tabs seeded alike must still never share an id.
    this.id = globalThis.crypto?.randomUUID?.() ?? `${options.now().toString(36)}-${Math.random()}`
    this.#watch = new Timer(options.timers)
    this.#stealTimer = new Timer(options.timers)
  }

  get leader(): KnownLeader | undefined {
    return this.#leader
  }

  get role(): TabRole {
    return this.#hub ? 'leader' : 'follower'
  }

  /** Calls `fn` with every message of the current leader (state changes, frames, acks); returns an unsubscribe. */
  listen(fn: (message: LeaderMessage) => void): () => void {
    this.#listeners.add(fn)
    return () => this.#listeners.delete(fn)
  }

  /** Joins: takes this tab's own lock, queues for the leader lock, asks who leads. Idempotent. */
  start(): void {
    if (this.#running) return
    this.#running = true
    const generation = ++this.#generation
    const { locks, scope, lifecycle } = this.#options
    lifecycle?.addEventListener('freeze', this.#freeze)
    lifecycle?.addEventListener('resume', this.#resume)
    void scope.then((scope) => {
      if (generation !== this.#generation) return
      this.#name = `holdfast ${scope}`
      this.#channel = new this.#options.BroadcastChannel(this.#name)
      this.#channel.onmessage = (event) => this.#fromLeader(event.data as AnyMessage)
      locks
        .request(
          `${this.#name} tab ${this.id}`,
          {},
          () =>
            new Promise<void>((release) => {
              if (generation !== this.#generation) return release()
              this.#releaseTab = release
              this.#elect()
              this.#follow()
            }),
        )
        .catch(() => {})
    })
  }

  /** Sends to the current leader. */
  post(message: TabPost): void {
    this.#send(message, false)
  }

  /** Leaves: says goodbye, hands leadership on, releases every lock. `start()` joins again. */
  close(): void {
    if (!this.#running) return
    this.#running = false
    this.#generation++
    this.#options.lifecycle?.removeEventListener('freeze', this.#freeze)
    this.#options.lifecycle?.removeEventListener('resume', this.#resume)
    this.#watch.cancel()
    this.#stealTimer.cancel()
    this.#send({ t: 'bye' }, true)
    this.#stepDown()
    this.#queued?.abort()
    this.#queued = undefined
    this.#releaseTab?.()
    this.#releaseTab = undefined
    this.#channel?.close()
    this.#channel = undefined
    this.#leader = undefined
  }

  #send(message: TabPost, everyone: boolean): void {
    this.#channel?.postMessage({ ...message, from: this.id, to: everyone ? undefined : this.#leader?.id })
  }

  /** Queues for the leader lock; with `steal`, takes it from a leader that stopped answering. */
  #elect(steal = false): void {
    if (this.#hub || !this.#running || this.#frozen) return
    this.#queued?.abort()
    const controller = steal ? undefined : new AbortController()
    this.#queued = controller
    const request = {}
    this.#options.locks
      .request(this.#name, steal ? { steal: true } : { signal: controller!.signal }, () =>
        this.#running && this.#queued === controller
          ? new Promise<void>((release) => this.#lead(request, release))
          : undefined,
      )
      .catch(() => {
        // Stolen from us (a tab thought we were frozen): someone else leads now. A cancelled queued request
        // never held the lock and lands here too, doing nothing.
        if (this.#holding === request) this.#stepDown()
      })
  }

  #lead(request: object, release: () => void): void {
    this.#holding = request
    this.#release = release
    this.#queued = undefined
    this.#watch.cancel()
    this.#stealTimer.cancel()
    this.#term = Math.max(this.#options.now(), (this.#leader?.term ?? 0) + 1)
    const term = this.#term
    const from = this.id
    const channel = new this.#options.BroadcastChannel(this.#name)
    channel.onmessage = (event) => {
      const message = event.data as AnyMessage
      if (!('term' in message) && (message.to === undefined || message.to === from))
        this.#hub?.receive(message as TabMessage)
    }
    this.#hubChannel = channel
    this.#hub = this.#options.lead({
      post: (message) => channel.postMessage({ ...message, from, term }),
      watch: (tab, gone) => {
        const controller = new AbortController()
        this.#options.locks
          .request(`${this.#name} tab ${tab}`, { signal: controller.signal }, () => {
            if (!controller.signal.aborted) gone()
          })
          .catch(() => {})
        return () => controller.abort()
      },
    })
    this.#options.role('leader')
  }

  /**
   * The browser is about to freeze this page (a background tab on a phone, energy saving): a frozen leader
   * would stall every tab until it is timed out, so it hands over now, and queues again once it resumes.
   */
  readonly #freeze = () => {
    this.#frozen = true
    this.#queued?.abort()
    this.#queued = undefined
    this.#stepDown()
  }

  readonly #resume = () => {
    this.#frozen = false
    if (this.#running && !this.#hub) this.#elect()
  }

  /** Stops leading (closing, deposed, frozen, or the lock was stolen) and queues again unless closing. */
  #stepDown(): void {
    const hub = this.#hub
    if (!hub) return
    this.#hub = undefined
    this.#holding = undefined
    hub.stop()
    this.#hubChannel!.postMessage({ t: 'resign', from: this.id, term: this.#term })
    this.#hubChannel!.close()
    this.#hubChannel = undefined
    this.#release?.()
    this.#release = undefined
    this.#options.role('follower')
    if (this.#running) {
      this.#follow()
      this.#elect()
    }
  }

  /** Starts watching the leader: asks who leads now, then checks every `pingIntervalMs`. */
  #follow(): void {
    this.#heardAt = this.#options.now()
    this.#send({ t: 'who' }, true)
    this.#dueAt = this.#heardAt
    this.#check()
  }

  /**
   * Every `pingIntervalMs`: a leader silent that long is pinged (it answers from its message handler, which
   * browsers do not throttle, so a hidden leader answers at once); one silent for `leaderTimeoutMs` is frozen
   * or hung. A check that fires more than an interval late means this tab was asleep itself: it pings and
   * judges at the next check instead.
   */
  #check(): void {
    const { now, pingIntervalMs, leaderTimeoutMs } = this.#options
    const at = now()
    const late = at - this.#dueAt > pingIntervalMs
    this.#dueAt = at + pingIntervalMs
    this.#watch.start(pingIntervalMs, () => this.#check())
    const silent = at - this.#heardAt
    if (silent >= leaderTimeoutMs && !late) this.#suspect()
    else if (silent >= pingIntervalMs) this.#send(this.#leader ? { t: 'ping' } : { t: 'who' }, !this.#leader)
  }

  /**
   * The leader answered nothing in time: take the lock from it. Other followers time out at about the same
   * moment: each waits a random part of `leaderTimeoutMs / 4` and steals only if no leader has spoken
   * meanwhile, so one of them takes over instead of each in turn.
   */
  #suspect(): void {
    if (this.#stealTimer.pending) return
    const heard = this.#heardAt
    this.#stealTimer.start((this.#options.random() * this.#options.leaderTimeoutMs) / 4, () => {
      if (this.#hub || !this.#running || this.#heardAt !== heard) return
      this.#leader = undefined
      this.#elect(true)
    })
  }

  #fromLeader(message: AnyMessage): void {
    if (!('term' in message)) return
    const leader = this.#leader
    if (message.t === 'leader') {
      // A leader with an older term was deposed; its late messages change nothing.
      if (
        leader &&
        (message.term < leader.term || (message.term === leader.term && message.from !== leader.id))
      )
        return
      this.#leader = { id: message.from, term: message.term, state: message.state }
      if (message.from !== this.id) this.#stepDown()
    } else if (message.from !== leader?.id || message.term !== leader.term) return
    else if (message.t === 'resign') {
      this.#leader = undefined
      // The lock goes to the next tab in the queue, which announces itself (or, if none does, is timed out).
    }
    this.#heardAt = this.#options.now()
    for (const fn of [...this.#listeners]) fn(message)
  }
}
