// `@holdfast/client/presence`: who is in a channel (docs/PROTOCOL.md §8), paid for only by apps that import it.
// It rides on ordinary subscriptions of derived channels, so the root client carries no presence code.
import { isChannelName } from '@holdfast/protocol'
import {
  type PresenceMember as ProtocolPresenceMember,
  parsePresenceChannel,
  presenceEnterChannel,
} from '@holdfast/protocol/presence'
import type { HoldfastClient } from './core/HoldfastClient'
import { HoldfastError } from './HoldfastError'
import {
  PresenceChannel,
  type PresenceEvents,
  type PresenceOptions,
  type PresenceState,
  type PresenceUser,
} from './presence/PresenceChannel'

/** One member: a connection that entered presence (`clientId`, `connectionId`, `info`). */
export type PresenceMember<TInfo = unknown> = ProtocolPresenceMember<TInfo>
export type { PresenceEvents, PresenceOptions, PresenceState, PresenceUser }

/** One view of a channel's presence. Handles of one client and channel share one subscription. */
export interface Presence<TInfo = unknown> {
  readonly channel: string
  /** Members, counts, this client's own member and the last error. A new object on every change. */
  readonly state: PresenceState<TInfo>
  /** `state`, as a function (for `useSyncExternalStore`). */
  getSnapshot(): PresenceState<TInfo>
  /** Calls `listener` on every change; returns an unsubscribe (for `useSyncExternalStore`). */
  subscribe(listener: () => void): () => void
  /** `join`, `leave` and `update` per client, `change` on anything, `error`. Returns an unsubscribe. */
  on<K extends keyof PresenceEvents<TInfo>>(
    event: K,
    fn: (payload: PresenceEvents<TInfo>[K]) => void,
  ): () => void
  /** Enters: this client becomes a member (with `info` when given) until `leave()` or `close()`. */
  enter(info?: TInfo): void
  /** Declares new info for the member (an `update` for everyone watching). */
  update(info: TInfo): void
  /** Leaves now: the member goes at once, not after the server's grace. */
  leave(): void
  /** Leaves if entered and stops watching; the subscription ends when no handle of the channel is left. */
  close(): void
}

const cores = new WeakMap<HoldfastClient, Map<string, PresenceChannel>>()

/**
 * Who is in `channel`: a snapshot first, then every join and leave, through whichever transport `client`
 * uses, across reconnects and transport switches without spurious events (a reconnect within the server's
 * grace shows nothing). Entering is opt-in: `{ enter: true, info }` or `enter(info)`. Several connections of
 * one user (tabs) show as one `PresenceUser` with several connections. Throws `invalid_channel` for a
 * name that cannot carry presence. Options other than `enter` and `info` apply when the channel's first
 * handle is created.
 *
 * @example
 * ```ts
 * const room = presence(client, 'chat.room.42', { enter: true, info: { name: 'Alice' } })
 * room.on('join', (user) => log(`${user.clientId} joined`))
 * room.subscribe(() => render(room.state.members))
 * ```
 */
export function presence<TInfo = unknown>(
  client: HoldfastClient,
  channel: string,
  options: PresenceOptions<TInfo> = {},
): Presence<TInfo> {
  if (
    !isChannelName(channel) ||
    parsePresenceChannel(channel) !== undefined ||
    !isChannelName(presenceEnterChannel(channel, 'x'.repeat(16)))
  )
    throw new HoldfastError(
      'invalid_channel',
      `"${String(channel).slice(0, 60)}" cannot carry presence: use a channel name of at most 174 characters without a "~presence" segment`,
    )
  let map = cores.get(client)
  if (!map) {
    map = new Map()
    cores.set(client, map)
  }
  const shared = map
  let core = shared.get(channel) as PresenceChannel<TInfo> | undefined
  if (!core) {
    const created: PresenceChannel<TInfo> = new PresenceChannel<TInfo>(client, channel, options, () => {
      if (shared.get(channel) === created) shared.delete(channel)
    })
    core = created
    shared.set(channel, created as PresenceChannel)
  }
  const channelCore = core
  channelCore.acquire()
  const handle = {}
  let closed = false
  const view: Presence<TInfo> = {
    channel,
    get state() {
      return channelCore.state
    },
    getSnapshot: () => channelCore.state,
    subscribe: (listener) => channelCore.on(handle, 'change', listener),
    on: (event, fn) => channelCore.on(handle, event, fn),
    enter(...info: [TInfo?]) {
      if (!closed) channelCore.enterFor(handle, info.length > 0 ? { value: info[0] as TInfo } : undefined)
    },
    update(info) {
      if (!closed) channelCore.updateInfo(info)
    },
    leave() {
      channelCore.leaveFor(handle)
    },
    close() {
      if (closed) return
      closed = true
      channelCore.releaseHandle(handle)
    },
  }
  if (options.enter) view.enter(...((options.info === undefined ? [] : [options.info]) as [TInfo?]))
  return view
}
