import { type ClientOptions, HoldfastClient } from '../core/HoldfastClient'
import { globalTimers, systemClock } from '../core/timers'
import {
  type CloseOptions,
  PersistentClient,
  type PersistentClientOptions,
} from '../persist/PersistentClient'
import { scopeOf, shareScope } from '../persist/scope'
import { longPollTransport } from '../transports/longPollTransport'
import { sseTransport } from '../transports/sseTransport'
import type { TransportFactory, TransportName } from '../transports/Transport'
import { websocketTransport } from '../transports/websocketTransport'
import { Hub } from './Hub'
import { type BroadcastChannelConstructor, type LockManagerLike, TabLink, type TabRole } from './TabLink'
import { tabTransport } from './tabTransport'

/** How tabs share one connection. */
export interface TabsOptions {
  /** A follower pings a leader that has been silent this long (ms). Defaults to 1000. */
  pingIntervalMs?: number
  /**
   * A leader that answers nothing this long (ms) after a ping is frozen or hung: the follower takes the lead
   * from it. Defaults to 2000, so a frozen leader is replaced within `pingIntervalMs + leaderTimeoutMs`.
   */
  leaderTimeoutMs?: number
  /** Web Locks. Defaults to `navigator.locks`, read when the client is created. */
  locks?: LockManagerLike
  /** Defaults to the global `BroadcastChannel`, read when the client is created. */
  BroadcastChannel?: BroadcastChannelConstructor
  /**
   * Where the page's `freeze` and `resume` events are heard: a leader about to be frozen hands over at once.
   * Defaults to `document`; `false` ignores them (a frozen leader is then timed out).
   */
  lifecycle?: EventTarget | false
}

/** Options of `createSharedClient`: the client's, plus how tabs share and what survives a reload. */
export interface SharedClientOptions extends PersistentClientOptions {
  /**
   * Share one connection among the tabs of this origin that use the same `url` and user (`user`, or the
   * token's `sub`). `false` keeps a connection per tab. Without Web Locks or BroadcastChannel, each tab
   * keeps its own connection. Defaults to `{}` (share).
   */
  tabs?: TabsOptions | false
}

/** `leader`: this tab holds the connection; `follower`: it goes through the leader's; `alone`: no sharing. */
export type SharedClientRole = TabRole | 'alone'

/**
 * A client whose tabs share one connection (see `createSharedClient`). The API is the client's, the same in
 * every tab; `role` says which tab holds the connection.
 */
export class SharedClient extends PersistentClient {
  readonly #link: TabLink | undefined
  readonly #roleListeners = new Set<(role: SharedClientRole) => void>()
  #role: SharedClientRole

  constructor(options: SharedClientOptions) {
    const scope = scopeOf(options)
    // An unknown user shares with nobody: a scope of this tab's own, so it leads its own connection.
    const shared = scope.then(
      (s) => s ?? `${options.url} tab ${globalThis.crypto?.randomUUID?.() ?? Math.random()}`,
    )
    const tabs = options.tabs === false ? undefined : (options.tabs ?? {})
    const locks =
      tabs && (tabs.locks ?? (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks)
    const Channel =
      tabs &&
      (tabs.BroadcastChannel ??
        (globalThis as { BroadcastChannel?: BroadcastChannelConstructor }).BroadcastChannel)
    // The leader tab's client takes these options as they are: refuse bad ones here, as createClient would.
    if (locks && Channel) new HoldfastClient({ ...options, lazy: true }, transportsOf(options))
    const link =
      locks && Channel
        ? new TabLink({
            scope: shared,
            locks,
            BroadcastChannel: Channel,
            timers: options.timers ?? globalTimers,
            now: options.now ?? systemClock,
            random: options.random ?? Math.random,
            pingIntervalMs: tabs.pingIntervalMs ?? 1000,
            leaderTimeoutMs: tabs.leaderTimeoutMs ?? 2000,
            lifecycle:
              tabs.lifecycle === false
                ? undefined
                : (tabs.lifecycle ?? (globalThis as { document?: EventTarget }).document),
            lead: (hubLink) => new Hub(options, transportsOf(options), hubLink),
            role: (role) => this.#setRole(role),
          })
        : undefined
    const own: SharedClientOptions = link
      ? {
          ...options,
          // The tab transport stands for whatever the leader uses (it reports the leader's transport by name),
          // so this client has one transport and never falls back or probes: the leader does.
          transports: ['websocket'],
          // Retry at once: the leader's own wait arrives as a hint, and a new leader is worth trying now.
          backoff: { initialMs: 1, maxMs: 1 },
          // Liveness is the tab link's (pings to the leader); online and visible wake the leader's client.
          heartbeat: false,
          onOnline: false,
          fallback: { probeIntervalMs: 0 },
        }
      : options
    shareScope(own, scope)
    super(
      own,
      link
        ? { websocket: tabTransport(link), sse: tabTransport(link), longpoll: tabTransport(link) }
        : transportsOf(options),
    )
    this.#link = link
    this.#role = link ? 'follower' : 'alone'
  }

  /** This tab's part: `leader`, `follower`, or `alone` (sharing is off or unsupported here). */
  get role(): SharedClientRole {
    return this.#role
  }

  /** Calls `fn` whenever this tab becomes or stops being the leader; returns an unsubscribe function. */
  onRoleChange(fn: (role: SharedClientRole) => void): () => void {
    this.#roleListeners.add(fn)
    return () => this.#roleListeners.delete(fn)
  }

  /** Closes this tab's client; a leader hands the connection to another tab at once. */
  override close(options: CloseOptions = {}): void {
    super.close(options)
    this.#link?.close()
  }

  #setRole(role: TabRole): void {
    if (role === this.#role) return
    this.#role = role
    for (const fn of [...this.#roleListeners]) fn(role)
  }
}

function transportsOf(options: ClientOptions): Partial<Record<TransportName, TransportFactory>> {
  return {
    websocket: websocketTransport(options),
    sse: sseTransport(options),
    longpoll: longPollTransport(options),
  }
}
