import type { HoldfastClient } from '@holdfast/client'
import { type PresenceState, type PresenceUser, presence } from '@holdfast/client/presence'
import { useEffect, useState, useSyncExternalStore } from 'react'

/** What the chat channel carries. (Who joined and left is presence, not chat messages.) */
export interface ChatMessage {
  kind: 'message'
  user: string
  text: string
}

/** What a page enters the room's presence with. */
export interface MemberInfo {
  name: string
}

/** A user in the online list: one name, however many tabs it has open. */
export interface OnlineUser {
  name: string
  tabs: number
}

/** A user's name: the one it entered with, else its client id (the token's `sub`, which the demo sets to it). */
export function displayName(user: PresenceUser<MemberInfo>): string {
  const name = user.info?.name
  return typeof name === 'string' && name !== '' ? name : user.clientId
}

/** Who is online, sorted by name: presence groups a user's tabs (connections) under its client id. */
export function onlineUsers(state: PresenceState<MemberInfo>): OnlineUser[] {
  return state.members
    .map((user) => ({ name: displayName(user), tabs: user.connections.length }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

const NOT_YET: PresenceState<MemberInfo> = {
  status: 'syncing',
  members: [],
  count: 0,
  clients: 0,
  me: undefined,
  error: undefined,
}
const noSubscribe = () => () => {}
const notYet = () => NOT_YET

/**
 * This page in `channel`'s presence: it enters with `{ name }` and returns who is there. `onNotice` hears
 * "alice joined" and "alice left" for other users' changes after the first snapshot (the people already
 * here when the page arrived did not just join). The page leaves at once when it is closed or hidden for good
 * (`pagehide`); a page that vanishes without that (a crash, a lost network) leaves after the server's grace.
 * The price: a reload is a leave and a join too (pagehide cannot tell a reload from a close); without the
 * pagehide leave a reload would show nothing, and a closed tab would leave only after the grace.
 */
export function useRoomPresence(
  client: HoldfastClient,
  channel: string,
  name: string,
  onNotice: (text: string) => void,
): PresenceState<MemberInfo> {
  const [room, setRoom] = useState<ReturnType<typeof presence<MemberInfo>>>()
  useEffect(() => {
    const info = { name }
    // One handle per mount; StrictMode's second mount shares the first one's subscription and member.
    const handle = presence<MemberInfo>(client, channel, { enter: true, info })
    let synced = handle.state.status === 'live'
    // Not about this user: whether its own join comes as an event or in the first snapshot is a race.
    const others = (user: PresenceUser<MemberInfo>) => synced && user.clientId !== name
    const offs = [
      handle.on('join', (user) => others(user) && onNotice(`${displayName(user)} joined`)),
      handle.on('leave', (user) => others(user) && onNotice(`${displayName(user)} left`)),
      // `change` comes after a snapshot's joins: those were the people already here.
      handle.on('change', (state) => {
        if (state.status === 'live') synced = true
      }),
    ]
    const leave = () => handle.leave()
    // Back from the back-forward cache: enter again.
    const back = (event: PageTransitionEvent) => event.persisted && handle.enter(info)
    addEventListener('pagehide', leave)
    addEventListener('pageshow', back)
    setRoom(handle)
    return () => {
      removeEventListener('pagehide', leave)
      removeEventListener('pageshow', back)
      for (const off of offs) off()
      handle.close()
    }
  }, [client, channel, name, onNotice])
  return useSyncExternalStore(room?.subscribe ?? noSubscribe, room?.getSnapshot ?? notYet, notYet)
}
