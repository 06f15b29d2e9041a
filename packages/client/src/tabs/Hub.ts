import {
  type Cursor,
  compareCursors,
  cursorEpoch,
  type ServerFrame,
  type SubscribedFrame,
} from '@holdfast/protocol'
import { type ClientOptions, HoldfastClient } from '../core/HoldfastClient'
import type { PublishResult } from '../core/Publisher'
import type { ConnectionState } from '../core/types'
import { HoldfastError } from '../HoldfastError'
import type { SubscriptionRequest, Transport, TransportFactory, TransportName } from '../transports/Transport'
import { type LeaderPost, type LeaderState, type TabMessage, toWire, type WireError } from './messages'

/** One channel on the leader's connection, and the tabs that follow it. */
interface ChannelState {
  /** Tabs receiving the channel's frames. */
  live: Set<string>
  /** Tabs waiting for the server to start the channel where they asked (`since`; undefined: from now). */
  waiting: Map<string, Cursor | undefined>
  /**
   * Subscribes on the wire, not yet answered, oldest first, each with where it asked to start (the server
   * answers a WebSocket's in order; an HTTP transport's new request replaces the one before).
   */
  asks: Array<Cursor | undefined>
  /** The server answered a subscribe on this connection. */
  confirmed: boolean
  epoch?: string
  /** The newest message when the server last started the channel. */
  head?: Cursor
  /** The last cursor relayed to the live tabs, or where the server started the channel: its resume point. */
  position?: Cursor
}

/** What the leader tab needs from its tab link. */
export interface HubLink {
  post(message: LeaderPost): void
  /** Calls `gone` once the tab `id` is gone (closed or crashed); returns a function that stops watching. */
  watch(id: string, gone: () => void): () => void
}

/**
 * The leader tab's side: one real client connection shared by every tab. It runs an ordinary
 * `HoldfastClient` for the connection's lifecycle (state machine, retries, heartbeat, tokens, the bounded
 * publish queue) and taps its transports' frames, so the channel set is its own: each channel is asked of
 * the server once, from the oldest point any tab needs, and every tab drops what it has seen by its own
 * cursor. A tab that needs older history than the channel's current point makes the leader subscribe again
 * from there (the server replaces the subscription and replays); a tab starting "now" joins at once.
 * Frames go to the tabs as they arrive, from the socket's events, never from a timer: a hidden leader whose
 * timers are throttled still relays at once.
 */
export class Hub {
  readonly #inner: HoldfastClient
  readonly #link: HubLink
  readonly #channels = new Map<string, ChannelState>()
  /** Attached tabs: their channels, and how to stop watching whether they are alive. */
  readonly #tabs = new Map<string, { channels: Set<string>; unwatch: () => void }>()
  /** Publishes relayed by key, with the tabs waiting for each (a tab resends with the same key). */
  readonly #publishes = new Map<string, string[]>()
  readonly #asks = new Set<string>()
  #live: Transport | undefined
  #opening: Transport | undefined
  #session = 0
  #maxMessageBytes: number | undefined
  #stopped = false

  constructor(
    options: ClientOptions,
    factories: Partial<Record<TransportName, TransportFactory>>,
    link: HubLink,
  ) {
    this.#link = link
    const tapped: Partial<Record<TransportName, TransportFactory>> = {}
    for (const [name, factory] of Object.entries(factories) as [TransportName, TransportFactory][]) {
      tapped[name] = (host) => {
        const transport: Transport = factory({
          ...host,
          // A probe (not yet carrying the connection) asks without the answers counting.
          subscriptions: () => this.#requests(transport === this.#live),
          opened: (welcome) => {
            this.#opening = transport
            this.#maxMessageBytes = welcome?.maxMessageBytes ?? this.#maxMessageBytes
            host.opened(welcome)
            this.#opening = undefined
          },
          frame: (frame) => {
            host.frame(frame)
            if (transport === this.#live) this.#frame(frame)
          },
        })
        return transport
      }
    }
    this.#inner = new HoldfastClient({ ...options, lazy: false }, tapped)
    this.#inner.onStateChange((state) => this.#state(state))
    this.#state(this.#inner.state)
  }

  get state(): LeaderState {
    const state = this.#inner.state as ConnectionState & { nextRetryAt?: number; error?: HoldfastError }
    return {
      status: state.status,
      session: this.#session,
      transport: state.transport,
      nextRetryAt: state.nextRetryAt,
      error: state.error && toWire(state.error),
      maxMessageBytes: this.#maxMessageBytes,
    }
  }

  /** A message from a tab (addressed to this leader, or to everyone). */
  receive(message: TabMessage): void {
    if (this.#stopped) return
    const tab = message.from
    const { t } = message
    if (t === 'who') this.#announce()
    else if (t === 'ping') this.#link.post({ t: 'pong', to: tab })
    else if (t === 'attach') {
      if (message.session !== this.#session || !this.#live) return
      this.#leave(tab)
      this.#tabs.set(tab, {
        channels: new Set(),
        unwatch: this.#tabs.get(tab)?.unwatch ?? this.#link.watch(tab, () => this.#forget(tab)),
      })
    } else if (t === 'detach') this.#leave(tab)
    else if (t === 'bye') this.#forget(tab)
    else if (t === 'ops') {
      if (message.session !== this.#session) return
      for (const op of message.ops)
        if ('unsubscribe' in op) this.#unsubscribe(tab, op.channel)
        else this.#subscribe(tab, op)
    } else this.#publish(tab, message.channel, message.data, message.key)
  }

  /** Stops for good: the connection closes, nothing more is relayed (the tabs resend to the next leader). */
  stop(): void {
    this.#stopped = true
    for (const tab of this.#tabs.values()) tab.unwatch()
    this.#tabs.clear()
    this.#inner.close()
  }

  #announce(): void {
    this.#link.post({ t: 'leader', state: this.state })
  }

  /** Every state change of the connection goes to the tabs; a new connection starts with no channels. */
  #state(state: ConnectionState): void {
    if (this.#stopped) return
    if (state.status === 'connected') {
      // Opened transports report before the state changes: this one carries the connection now.
      this.#live = this.#opening ?? this.#live
      this.#session++
      this.#reset()
    } else if (this.#live) {
      this.#live = undefined
      this.#reset()
    }
    this.#announce()
  }

  /** The server knows none of our channels: every tab attaches again and asks for its channels afresh. */
  #reset(): void {
    this.#channels.clear()
    this.#asks.clear()
    for (const tab of this.#tabs.values()) tab.channels.clear()
  }

  #subscribe(tab: string, { channel, since }: SubscriptionRequest): void {
    const member = this.#tabs.get(tab)
    if (!member) return
    member.channels.add(channel)
    let st = this.#channels.get(channel)
    if (!st) {
      st = { live: new Set(), waiting: new Map(), asks: [], confirmed: false }
      this.#channels.set(channel, st)
    }
    st.live.delete(tab)
    st.waiting.delete(tab)
    const at = st.position
    if (st.confirmed && (since === undefined || compareCursors(since, at!) >= 0)) {
      // The channel runs from a point this tab has already passed: it joins at once, without asking the
      // server (a replay someone else asked for meanwhile is older than its cursor: it drops it).
      st.live.add(tab)
      const cursor = compareCursors(at!, st.head!) >= 0 ? at! : st.head!
      this.#send([tab], { type: 'subscribed', id: 0, channel, epoch: st.epoch!, cursor, recovered: true })
    } else {
      st.waiting.set(tab, since)
      this.#ask(channel)
    }
  }

  #unsubscribe(tab: string, channel: string): void {
    this.#tabs.get(tab)?.channels.delete(channel)
    const st = this.#channels.get(channel)
    if (!st) return
    st.live.delete(tab)
    st.waiting.delete(tab)
    if (st.live.size || st.waiting.size) return
    this.#channels.delete(channel)
    if (st.asks.length || st.confirmed) this.#live?.unsubscribe(channel)
  }

  /** A tab detached (or reattaches): it leaves every channel. */
  #leave(tab: string): void {
    for (const channel of this.#tabs.get(tab)?.channels ?? []) this.#unsubscribe(tab, channel)
  }

  /** A tab is gone for good (closed, crashed, said bye). */
  #forget(tab: string): void {
    this.#leave(tab)
    this.#tabs.get(tab)?.unwatch()
    this.#tabs.delete(tab)
  }

  /** Asks the server for a channel, once per tick and one request at a time per channel. */
  #ask(channel: string): void {
    if (this.#asks.has(channel)) return
    this.#asks.add(channel)
    queueMicrotask(() => {
      this.#asks.delete(channel)
      const st = this.#channels.get(channel)
      const transport = this.#live
      if (!st?.waiting.size || !transport || this.#stopped) return
      const since = this.#since(st)
      // Already asked for from there: its answer serves them.
      if (st.asks.includes(since)) return
      st.asks.push(since)
      transport.subscribe({ channel, since })
    })
  }

  /**
   * Every channel with where to start it (HTTP transports reopen with the whole set). On the transport that
   * carries the connection, each counts as asked: its next `subscribed` answers this request.
   */
  #requests(live: boolean): SubscriptionRequest[] {
    return [...this.#channels].map(([channel, st]) => {
      const since = this.#since(st)
      if (live) st.asks = [since]
      return { channel, since }
    })
  }

  /**
   * Where to (re)start a channel: the oldest point any of its tabs needs. A cursor of another epoch than the
   * channel's wins (the server then answers `recovered: false` and replays all it has); no cursor at all
   * means from now.
   */
  #since(st: ChannelState): Cursor | undefined {
    let oldest: Cursor | undefined
    for (const cursor of [...st.waiting.values(), st.live.size ? st.position : undefined]) {
      if (cursor === undefined) continue
      const order = oldest === undefined ? -1 : compareCursors(cursor, oldest)
      if (order < 0 || (Number.isNaN(order) && cursorEpoch(cursor) !== st.epoch)) oldest = cursor
    }
    return oldest
  }

  #frame(frame: ServerFrame): void {
    const channel = (frame as { channel?: string }).channel
    const st = channel === undefined ? undefined : this.#channels.get(channel)
    if (!st) return
    if (frame.type === 'message') {
      st.position = frame.cursor
      // Waiting tabs get nothing until their own start: an earlier message would make them drop the replay.
      if (st.live.size) this.#send([...st.live], frame)
    } else if (frame.type === 'subscribed') this.#subscribed(st, frame)
    else if (frame.type === 'error' && st.asks.length) {
      // A refused subscribe: the waiting tabs are told. The server keeps a live subscription it refused to replace.
      st.asks.shift()
      this.#send([...st.waiting.keys()], frame)
      for (const tab of [...st.waiting.keys()]) this.#unsubscribe(tab, channel!)
    }
  }

  #subscribed(st: ChannelState, frame: SubscribedFrame): void {
    // A start nobody here asked for (not expected) tells nothing about where the feed runs from.
    if (!st.asks.length) return
    const asked = st.asks.shift()
    const { channel, epoch, cursor, recovered } = frame
    st.confirmed = true
    st.epoch = epoch
    st.head = cursor
    // The feed now runs from where it was asked (or from now); after lost history, from the start of what is kept.
    st.position = recovered ? (asked ?? cursor) : `${epoch}:0`
    const start = asked ?? cursor
    const served: Record<'true' | 'false', string[]> = { true: [], false: [] }
    for (const [tab, since] of st.waiting) {
      // This start serves a tab that asked from now, from this point or later, or anything once history is lost.
      if (since !== undefined && recovered && !(compareCursors(since, start) >= 0)) continue
      st.waiting.delete(tab)
      st.live.add(tab)
      served[`${since === undefined || recovered}`].push(tab)
    }
    for (const ok of [true, false])
      if (served[`${ok}`].length)
        this.#send(served[`${ok}`], { type: 'subscribed', id: 0, channel, epoch, cursor, recovered: ok })
    if (!st.waiting.size) return
    // Tabs that need older history: ask again, from the oldest of them. Asking the same again cannot help (a
    // cursor the server neither resumes nor refuses): they start here, told that history may be missing.
    if (this.#since(st) !== asked) this.#ask(channel)
    else {
      const rest = [...st.waiting.keys()]
      st.waiting.clear()
      for (const tab of rest) st.live.add(tab)
      this.#send(rest, { type: 'subscribed', id: 0, channel, epoch, cursor, recovered: false })
    }
  }

  #publish(tab: string, channel: string, data: unknown, key: string): void {
    const waiting = this.#publishes.get(key)
    if (waiting) {
      // Sent again after a drop while the first is still queued here: one publish, answered to both.
      waiting.push(tab)
      return
    }
    const waiters = [tab]
    this.#publishes.set(key, waiters)
    const answer = (outcome: { result?: PublishResult; error?: WireError }) => {
      this.#publishes.delete(key)
      if (this.#stopped) return
      for (const to of new Set(waiters)) this.#link.post({ t: 'ack', to, key, ...outcome })
    }
    this.#inner.publish(channel, data, { key }).then(
      (result) => answer({ result }),
      (error: unknown) => answer({ error: toWire(HoldfastError.from(error)) }),
    )
  }

  #send(to: string[], frame: ServerFrame): void {
    this.#link.post({ t: 'frame', to, frame })
  }
}
