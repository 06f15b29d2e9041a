import type { ServerFrame } from '@holdfast/protocol'
import type { PublishResult } from '../core/Publisher'
import { type ErrorCode, HoldfastError } from '../HoldfastError'
import type { SubscriptionRequest, TransportName } from '../transports/Transport'

// The messages between tabs, on one BroadcastChannel per scope (server URL and user). Every message names
// its sender (`from`, a random id per page); messages to the leader name it (`to`), and the leader's carry its
// `term`, which orders leaders: a newer leader has a higher term, so a deposed one's late messages are ignored.

/** An error as it crosses between tabs: structured clone keeps neither the class nor its `code`. */
export interface WireError {
  code: ErrorCode
  message: string
  retryAfterMs?: number
}

/** The leader's connection, as every tab sees it. `session` counts the leader's connections. */
export interface LeaderState {
  status: 'connecting' | 'connected' | 'reconnecting' | 'closed'
  session: number
  transport?: TransportName
  /** `reconnecting`: when the leader tries again (ms since epoch). */
  nextRetryAt?: number
  /** `reconnecting`: why the last connection ended; `closed`: the terminal error. */
  error?: WireError
  maxMessageBytes?: number
}

/** One channel request of a tab: `since` to subscribe (resume after it), or `unsubscribe`. */
export type ChannelOp = SubscriptionRequest | { channel: string; unsubscribe: true }

/**
 * From a tab to the leader. A publish and its `ack` are matched by the publish's idempotency key, unique to one
 * publish and kept across resends, so a late answer can never settle another publish. `attach`: the tab joins the leader's connection `session` (its channels there start
 * empty). `ops`: subscribe and unsubscribe requests, in order. `bye`: the page is going away.
 */
export type TabMessage = { from: string; to?: string } & (
  | { t: 'who' }
  | { t: 'ping' }
  | { t: 'attach'; session: number }
  | { t: 'detach' }
  | { t: 'bye' }
  | { t: 'ops'; session: number; ops: ChannelOp[] }
  | { t: 'pub'; channel: string; data: unknown; key: string }
)

/**
 * From the leader to the tabs. `leader`: sent when a tab becomes leader, on every change of its connection,
 * and in answer to `who`. `frame`: a `message`, `subscribed` or channel `error` frame for the tabs in `to`.
 */
export type LeaderMessage = { from: string; term: number } & (
  | { t: 'leader'; state: LeaderState }
  | { t: 'resign' }
  | { t: 'pong'; to: string }
  | { t: 'frame'; to: string[]; frame: ServerFrame }
  | { t: 'ack'; to: string; key: string; result?: PublishResult; error?: WireError }
)

export type AnyMessage = TabMessage | LeaderMessage

type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
/** A leader message before the link adds `from` and `term`. */
export type LeaderPost = Without<LeaderMessage, 'from' | 'term'>
/** A tab message before the link adds `from` and `to`. */
export type TabPost = Without<TabMessage, 'from' | 'to'>

export function toWire(error: HoldfastError): WireError {
  return { code: error.code, message: error.message, retryAfterMs: error.retryAfterMs }
}

export function fromWire(error: WireError): HoldfastError {
  return new HoldfastError(error.code, error.message, { retryAfterMs: error.retryAfterMs })
}
