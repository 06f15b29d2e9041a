// No React in here, as with SubscriptionObserver: a plain subscribable that `usePresence` reads with
// `useSyncExternalStore`, over `presence()` handles (which share one subscription per client and channel).
import type { ConnectionState, HoldfastClient } from '@holdfast/client'
import { type Presence, type PresenceState, presence } from '@holdfast/client/presence'
import { SERVER_CONNECTION_STATE } from './SubscriptionObserver'

/** Options of `usePresence`. All optional. */
export interface UsePresenceOptions<TInfo = unknown> {
  /** Watch only while true; turning it off leaves (when entered) and stops watching. Defaults to true. */
  enabled?: boolean
  /** Enter too, not only watch: this client is a member while the component is mounted. Defaults to false. */
  enter?: boolean
  /** The info to enter with; a new value (compared as JSON) is an update for everyone watching. Defaults to none. */
  info?: TInfo
}

/**
 * What `usePresence` returns: the channel's presence (`status` is `idle` while not watching: `enabled:
 * false`, server rendering) and the client's connection beside it.
 */
export type PresenceResult<TInfo = unknown> = Omit<PresenceState<TInfo>, 'status'> & {
  status: PresenceState['status'] | 'idle'
  connection: ConnectionState
}

export interface PresenceObserverOptions<TInfo> extends UsePresenceOptions<TInfo> {
  client: HoldfastClient
  channel: string
}

export const SERVER_PRESENCE: PresenceResult<never> = Object.freeze({
  status: 'idle',
  members: Object.freeze([]),
  count: 0,
  clients: 0,
  me: undefined,
  error: undefined,
  connection: SERVER_CONNECTION_STATE,
})

/**
 * One `usePresence`'s view. The presence handle starts with the first listener and closes after the last,
 * a microtask later, so StrictMode's mount → unmount → mount keeps the one subscription (and the member).
 */
export class PresenceObserver<TInfo = unknown> {
  #options: PresenceObserverOptions<TInfo>
  readonly #listeners = new Set<() => void>()
  #handle: Presence<TInfo> | undefined
  #offs: Array<() => void> = []
  #releaseToken = 0
  #result: PresenceResult<TInfo>

  constructor(options: PresenceObserverOptions<TInfo>) {
    this.#options = options
    this.#result = this.#compute()
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    if (this.#listeners.size === 1) this.#attach()
    return () => {
      this.#listeners.delete(listener)
      if (this.#listeners.size > 0) return
      const token = ++this.#releaseToken
      queueMicrotask(() => {
        if (token === this.#releaseToken && this.#listeners.size === 0) this.#detach()
      })
    }
  }

  readonly getSnapshot = (): PresenceResult<TInfo> => this.#result

  matches(client: HoldfastClient, channel: string): boolean {
    return this.#options.client === client && this.#options.channel === channel
  }

  setOptions(next: PresenceObserverOptions<TInfo>): void {
    const prev = this.#options
    this.#options = next
    const handle = this.#handle
    if (!this.matches(prev.client, prev.channel) || enabled(prev) !== enabled(next)) {
      // Mounted: start over with the new options (a disabled observer holds no handle, only its state
      // listener). Not yet: the first listener attaches with them.
      if (this.#listeners.size > 0) {
        this.#detach()
        this.#attach()
      } else this.#update()
      return
    }
    if (!handle) return
    if (!!prev.enter !== !!next.enter) {
      if (next.enter) enter(handle, next)
      else handle.leave()
    } else if (
      next.enter &&
      next.info !== undefined &&
      JSON.stringify(prev.info) !== JSON.stringify(next.info)
    )
      handle.update(next.info)
  }

  #attach(): void {
    this.#releaseToken++
    if (this.#handle || this.#offs.length > 0) return
    const { client, channel } = this.#options
    this.#offs.push(client.onStateChange(() => this.#update()))
    if (enabled(this.#options)) {
      const handle = presence<TInfo>(client, channel)
      this.#handle = handle
      this.#offs.push(handle.subscribe(() => this.#update()))
      if (this.#options.enter) enter(handle, this.#options)
    }
    this.#update()
  }

  #detach(): void {
    for (const off of this.#offs.splice(0)) off()
    this.#handle?.close()
    this.#handle = undefined
  }

  #update(): void {
    const next = this.#compute()
    const prev = this.#result
    if (prev.status === next.status && prev.connection === next.connection && sameState(prev, next)) return
    this.#result = next
    for (const listener of [...this.#listeners]) listener()
  }

  #compute(): PresenceResult<TInfo> {
    const connection = this.#options.client.state
    const state = this.#handle?.state
    if (!state) return { ...(SERVER_PRESENCE as PresenceResult<TInfo>), connection }
    return { ...state, connection }
  }
}

const enabled = (options: { enabled?: boolean }) => options.enabled ?? true

function enter<TInfo>(handle: Presence<TInfo>, options: UsePresenceOptions<TInfo>): void {
  if (options.info === undefined) handle.enter()
  else handle.enter(options.info)
}

/** The presence state is a new object on every change: comparing its fields is enough. */
function sameState(a: PresenceResult<unknown>, b: PresenceResult<unknown>): boolean {
  return (
    a.members === b.members &&
    a.me === b.me &&
    a.error === b.error &&
    a.count === b.count &&
    a.clients === b.clients
  )
}
