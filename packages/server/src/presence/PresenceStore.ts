import type { Cursor } from '@holdfast/protocol'

/** A member as a store keeps it: its id, its client, and its JSON as every event and snapshot carries it. */
export interface MemberRecord {
  /** Unique per channel: the client id and the connection id together (`memberId`). */
  id: string
  clientId: string
  connectionId: string
  /** The info as JSON text, when the member has one. */
  info?: string
}

export interface EnterOptions {
  /** Who holds the member now (one connection or poll): only it may refresh or release it. */
  owner: string
  /** The member leaves unless refreshed (or entered again) within this long. */
  ttlMs: number
  /** A new member is refused (`full`) when the channel already has this many. */
  maxMembers: number
  /**
   * The info comes from the token (`record.info`, or none): it replaces what the member had. Otherwise a
   * member already present keeps its info, and a new one takes the info its client declared beforehand.
   */
  fixedInfo: boolean
}

/** `joined`: a new member (a join event); `present`: it was there (taken over, maybe updated); `full`. */
export type EnterOutcome = 'joined' | 'present' | 'full'

/** What a snapshot read returns: members and the log position they stand at, read together. */
export interface PresenceSnapshot {
  /** Epoch of the channel's presence log. */
  epoch: string
  /** The log's head (an event cursor, `<epoch>:<n>`): the members are the state after it. */
  head: Cursor
  /** Member JSON, ordered by member id, at most `limit`. */
  members: string[]
  /** Members present (can exceed `members.length`: the snapshot is capped). */
  count: number
  /** Distinct client ids present. */
  clients: number
}

/**
 * Where presence lives, next to a broker's channel logs (`broker.presence`). Every change of the member
 * set appends its event (join, update, leave) to the log of `<channel>~presence` in the same atomic step,
 * so the log, the member set and the snapshots never disagree, and each leave is appended once however
 * many processes sweep. Members carry a deadline: refreshed by whoever holds them, and swept (a leave,
 * reason `expired`) once it passes. `channel` is always the channel whose members these are.
 */
export interface PresenceStore {
  /** Adds the member, or takes it over (a reconnect within its deadline emits nothing). Sweeps first. */
  enter(channel: string, record: MemberRecord, options: EnterOptions): Promise<EnterOutcome>
  /** Pushes deadlines out to now + `ttlMs`, for members still present (and held by `owner`, when given). */
  refresh(
    channel: string,
    members: ReadonlyArray<{ id: string; owner?: string }>,
    ttlMs: number,
  ): Promise<void>
  /** The member's holder is gone: it leaves after `graceMs` unless it is entered again. Only its owner may. */
  release(channel: string, id: string, owner: string, graceMs: number): Promise<void>
  /** Leaves now (reason `left`). Resolves false when it was not present. */
  leave(channel: string, id: string): Promise<boolean>
  /**
   * The member's own info (`record.info`): an update event when present and different; otherwise kept for
   * `pendingMs` and given to the member when it enters. Sweeps first.
   */
  declare(
    channel: string,
    record: MemberRecord,
    pendingMs: number,
  ): Promise<'updated' | 'unchanged' | 'pending'>
  /** Removes every member whose deadline passed, each with one leave event. Resolves with ms until the next deadline. */
  sweep(channel: string): Promise<number | undefined>
  /** Sweeps, then reads the members (at most `limit`, by member id) with the log position they stand at. */
  snapshot(channel: string, limit: number): Promise<PresenceSnapshot>
}

/** The id a member is stored under: unambiguous whatever its client id holds. */
export function memberId(clientId: string, connectionId: string): string {
  return JSON.stringify([clientId, connectionId])
}

/** The member as JSON text: `{"clientId","connectionId","info"?}`. */
export function memberJson(record: MemberRecord): string {
  const base = `{"clientId":${JSON.stringify(record.clientId)},"connectionId":"${record.connectionId}"`
  return record.info === undefined ? `${base}}` : `${base},"info":${record.info}}`
}

/** An event's JSON text (PROTOCOL.md §8). */
export function presenceEventJson(
  event: 'join' | 'update' | 'leave',
  member: string,
  count: number,
  clients: number,
  reason?: 'left' | 'expired',
): string {
  return `{"event":"${event}","member":${member},"count":${count},"clients":${clients}${reason ? `,"reason":"${reason}"` : ''}}`
}
