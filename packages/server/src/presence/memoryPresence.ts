import type { Cursor } from '@holdfast/protocol'
import { presenceChannel } from '@holdfast/protocol/presence'
import type { Clock } from '../Clock'
import {
  type EnterOptions,
  type EnterOutcome,
  memberJson,
  type PresenceSnapshot,
  type PresenceStore,
  presenceEventJson,
} from './PresenceStore'

/** What the memory broker lends its presence store: appending to a log, and reading where a log stands. */
export interface MemoryLogAccess {
  /** Appends `json` to `channel`'s log and notifies its listeners; returns the cursor. */
  append(channel: string, json: string): Cursor
  /** The log's epoch and head cursor (an empty log included). */
  head(channel: string): { epoch: string; head: Cursor }
}

interface Member {
  clientId: string
  json: string
  info: string | undefined
  owner: string
  deadline: number
}

interface ChannelMembers {
  members: Map<string, Member>
  clients: Map<string, number>
  pending: Map<string, { info: string; expiresAt: number }>
}

/**
 * Presence in this process's memory, for `memoryBroker`. Every method runs to completion before another
 * starts, so a change of the member set and its event are one step, as the Redis scripts make them.
 */
export function memoryPresence(logs: MemoryLogAccess, clock: Clock): PresenceStore & { clear(): void } {
  const channels = new Map<string, ChannelMembers>()

  function of(channel: string): ChannelMembers {
    let entry = channels.get(channel)
    if (!entry) {
      entry = { members: new Map(), clients: new Map(), pending: new Map() }
      channels.set(channel, entry)
    }
    return entry
  }

  function forget(channel: string, entry: ChannelMembers): void {
    if (entry.members.size === 0 && entry.pending.size === 0) channels.delete(channel)
  }

  function emit(
    channel: string,
    entry: ChannelMembers,
    event: 'join' | 'update' | 'leave',
    member: Member,
    reason?: 'left' | 'expired',
  ): Cursor {
    const json = presenceEventJson(event, member.json, entry.members.size, entry.clients.size, reason)
    return logs.append(presenceChannel(channel), json)
  }

  function remove(channel: string, entry: ChannelMembers, id: string, reason: 'left' | 'expired'): void {
    const member = entry.members.get(id)
    if (!member) return
    entry.members.delete(id)
    const n = (entry.clients.get(member.clientId) ?? 1) - 1
    if (n > 0) entry.clients.set(member.clientId, n)
    else entry.clients.delete(member.clientId)
    emit(channel, entry, 'leave', member, reason)
  }

  /** Removes expired members (a leave each) and pending info; returns the earliest deadline left. */
  function sweepNow(channel: string, entry: ChannelMembers): number | undefined {
    const now = clock.now()
    let next: number | undefined
    for (const [id, member] of [...entry.members]) {
      if (member.deadline <= now) remove(channel, entry, id, 'expired')
      else if (next === undefined || member.deadline < next) next = member.deadline
    }
    for (const [id, pending] of entry.pending) if (pending.expiresAt <= now) entry.pending.delete(id)
    return next
  }

  return {
    async enter(channel, record, options: EnterOptions): Promise<EnterOutcome> {
      const entry = of(channel)
      sweepNow(channel, entry)
      const now = clock.now()
      const present = entry.members.get(record.id)
      if (present) {
        present.owner = options.owner
        present.deadline = now + options.ttlMs
        if (options.fixedInfo && present.info !== record.info) {
          present.info = record.info
          present.json = memberJson(record)
          emit(channel, entry, 'update', present)
        }
        return 'present'
      }
      if (entry.members.size >= options.maxMembers) {
        forget(channel, entry)
        return 'full'
      }
      let info = record.info
      if (!options.fixedInfo) {
        const pending = entry.pending.get(record.id)
        if (pending && pending.expiresAt > now) info = pending.info
      }
      entry.pending.delete(record.id)
      const member: Member = {
        clientId: record.clientId,
        info,
        json: memberJson({ ...record, ...(info === undefined ? {} : { info }) }),
        owner: options.owner,
        deadline: now + options.ttlMs,
      }
      entry.members.set(record.id, member)
      entry.clients.set(record.clientId, (entry.clients.get(record.clientId) ?? 0) + 1)
      emit(channel, entry, 'join', member)
      return 'joined'
    },

    async refresh(channel, members, ttlMs) {
      const entry = channels.get(channel)
      if (!entry) return
      const now = clock.now()
      for (const { id, owner } of members) {
        const member = entry.members.get(id)
        // An expired member is not brought back: the next sweep says it left.
        if (!member || member.deadline <= now || (owner !== undefined && member.owner !== owner)) continue
        member.deadline = now + ttlMs
      }
    },

    async release(channel, id, owner, graceMs) {
      const member = channels.get(channel)?.members.get(id)
      if (!member || member.owner !== owner) return
      member.owner = ''
      member.deadline = Math.min(member.deadline, clock.now() + graceMs)
    },

    async leave(channel, id) {
      const entry = channels.get(channel)
      if (!entry?.members.has(id)) return false
      remove(channel, entry, id, 'left')
      forget(channel, entry)
      return true
    },

    async declare(channel, record, pendingMs) {
      const entry = of(channel)
      sweepNow(channel, entry)
      const member = entry.members.get(record.id)
      if (!member) {
        entry.pending.set(record.id, { info: record.info ?? 'null', expiresAt: clock.now() + pendingMs })
        return 'pending'
      }
      if (member.info === record.info) return 'unchanged'
      member.info = record.info
      member.json = memberJson(record)
      emit(channel, entry, 'update', member)
      return 'updated'
    },

    async sweep(channel) {
      const entry = channels.get(channel)
      if (!entry) return undefined
      const next = sweepNow(channel, entry)
      forget(channel, entry)
      return next === undefined ? undefined : Math.max(0, next - clock.now())
    },

    async snapshot(channel, limit): Promise<PresenceSnapshot> {
      const entry = channels.get(channel)
      if (entry) {
        sweepNow(channel, entry)
        forget(channel, entry)
      }
      const { epoch, head } = logs.head(presenceChannel(channel))
      const ids = entry ? [...entry.members.keys()].sort() : []
      return {
        epoch,
        head,
        members: ids.slice(0, limit).map((id) => entry!.members.get(id)!.json),
        count: entry?.members.size ?? 0,
        clients: entry?.clients.size ?? 0,
      }
    },

    clear() {
      channels.clear()
    },
  }
}
