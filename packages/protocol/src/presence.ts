import { type ErrorCode, isErrorCode } from './codes'
import { type Cursor, isChannelName } from './cursor'

// Presence (PROTOCOL.md §8) rides on derived channels, so subscribe, resume, dedupe and transport fallback
// work unchanged and a client that never asks for presence never receives a presence frame:
//   `<channel>~presence`                  watch: a snapshot of the members, then join / leave / update events
//   `<channel>~presence~<connectionId>`   enter: be a member while this subscription lasts (it delivers nothing
//                                         but a refusal); publishing to it declares info, touches or leaves

/** What a channel name ends with to watch that channel's presence. */
export const PRESENCE_SUFFIX = '~presence'

/**
 * Cursor offsets of a snapshot sent at the log's head `<epoch>:<n>`: the subscription starts at
 * `<epoch>:<n>-1`, page `k` of the snapshot is `<epoch>:<n>-<k + 1>`, and the last page is
 * `<epoch>:<n>-999999`, so a client that resumes from it has the whole snapshot and continues after `n`.
 */
export const SNAPSHOT_START_MINOR = 1
export const SNAPSHOT_DONE_MINOR = 999_999

const RESERVED = /~presence(?:~|$)/
const CONNECTION_ID = /^[A-Za-z0-9_-]{8,64}$/

/** A presence channel name, parsed: `connectionId` is set for the enter form. */
export interface PresenceChannelName {
  /** The channel whose members these are. */
  channel: string
  /** The member's connection id (8 to 64 of `A-Z a-z 0-9 _ -`) when the name enters presence. */
  connectionId?: string
}

/**
 * Reads a presence channel name. `undefined`: an ordinary channel. `null`: a name that uses the reserved
 * `~presence` segment wrongly (an empty channel, or a connection id that is not 8 to 64 of
 * `A-Z a-z 0-9 _ -`); answer it with `invalid_channel`.
 */
export function parsePresenceChannel(name: string): PresenceChannelName | null | undefined {
  const at = name.search(RESERVED)
  if (at < 0) return undefined
  const channel = name.slice(0, at)
  const rest = name.slice(at + PRESENCE_SUFFIX.length)
  if (channel === '' || !isChannelName(name)) return null
  if (rest === '') return { channel }
  const connectionId = rest.slice(1)
  return CONNECTION_ID.test(connectionId) ? { channel, connectionId } : null
}

/** `<channel>~presence`: the channel to subscribe to for `channel`'s members and their comings and goings. */
export function presenceChannel(channel: string): string {
  return `${channel}${PRESENCE_SUFFIX}`
}

/** `<channel>~presence~<connectionId>`: subscribing to it makes this connection a member of `channel`. */
export function presenceEnterChannel(channel: string, connectionId: string): string {
  return `${channel}${PRESENCE_SUFFIX}~${connectionId}`
}

/** Whether `value` may be a presence connection id: 8 to 64 of `A-Z a-z 0-9 _ -`. */
export function isConnectionId(value: unknown): value is string {
  return typeof value === 'string' && CONNECTION_ID.test(value)
}

/** One member: a connection that entered presence. A user with three tabs is three members, one `clientId`. */
export interface PresenceMember<TInfo = unknown> {
  /** The token's `sub` when the server verifies tokens, else the connection id. */
  clientId: string
  connectionId: string
  /** Small JSON from the token's `info` claim or declared by the client; absent when there is none. */
  info?: TInfo
}

/** Counts every presence event carries, after the event. */
export interface PresenceCounts {
  /** Members (connections) present. */
  count: number
  /** Distinct client ids among them. */
  clients: number
}

/** The `data` of a message on `<channel>~presence`. */
export type PresenceEvent<TInfo = unknown> =
  | (PresenceCounts & {
      event: 'snapshot'
      /** This page's members; a snapshot capped at the server's limit lists fewer than `count`. */
      members: PresenceMember<TInfo>[]
      /** More pages of this snapshot follow. */
      more: boolean
    })
  | (PresenceCounts & { event: 'join' | 'update'; member: PresenceMember<TInfo> })
  | (PresenceCounts & {
      event: 'leave'
      member: PresenceMember<TInfo>
      /** `left`: it unsubscribed or said so; `expired`: its connection went and did not come back in time. */
      reason: 'left' | 'expired'
    })

/** The `data` of the one message an enter channel may carry: the server would not let it in. */
export interface PresenceRefusal {
  event: 'refused'
  code: ErrorCode
  message: string
}

/** What a client publishes to its enter channel: declare its info, keep an SSE membership alive, or leave now. */
export type PresencePublish = { info: unknown } | { touch: true } | { leave: true }

const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0

function isMember(v: unknown): v is PresenceMember {
  const m = v as PresenceMember
  return (
    typeof m === 'object' && m !== null && typeof m.clientId === 'string' && isConnectionId(m.connectionId)
  )
}

/** Validates the `data` of a presence message; `undefined` when it is not one. */
export function decodePresenceEvent(data: unknown): PresenceEvent | PresenceRefusal | undefined {
  const d = data as Record<string, unknown>
  if (typeof d !== 'object' || d === null) return undefined
  if (d.event === 'refused')
    return isErrorCode(d.code) && typeof d.message === 'string'
      ? (d as unknown as PresenceRefusal)
      : undefined
  if (!isCount(d.count) || !isCount(d.clients)) return undefined
  switch (d.event) {
    case 'snapshot':
      return Array.isArray(d.members) && d.members.every(isMember) && typeof d.more === 'boolean'
        ? (d as unknown as PresenceEvent)
        : undefined
    case 'join':
    case 'update':
      return isMember(d.member) ? (d as unknown as PresenceEvent) : undefined
    case 'leave':
      return isMember(d.member) && (d.reason === 'left' || d.reason === 'expired')
        ? (d as unknown as PresenceEvent)
        : undefined
    default:
      return undefined
  }
}

/** Where a snapshot cursor stands: `start` before any page, `page` inside it, `done` after its last page. */
export function snapshotStage(minor: number): 'event' | 'start' | 'page' | 'done' {
  if (minor === 0) return 'event'
  if (minor === SNAPSHOT_START_MINOR) return 'start'
  return minor === SNAPSHOT_DONE_MINOR ? 'done' : 'page'
}

/** The cursor of a snapshot's start or page `k` (1-based; `last` for its last page) at log position `major`. */
export function snapshotCursor(epoch: string, major: number, page: number | 'start' | 'last'): Cursor {
  const minor = page === 'start' ? SNAPSHOT_START_MINOR : page === 'last' ? SNAPSHOT_DONE_MINOR : page + 1
  return `${epoch}:${major}-${minor}`
}
