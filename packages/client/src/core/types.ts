import type { Cursor } from '@holdfast/protocol'
import type { HoldfastError } from '../HoldfastError'
import type { TransportName } from '../transports/Transport'

/**
 * Connection state, delivered beside the data. Switch on `status`. Every state names a `transport`: the
 * one connecting, connected or waiting to retry; for `closed`, the last one used (`undefined` if the
 * client never tried one).
 */
export type ConnectionState =
  | { status: 'connecting'; transport: TransportName; attempt: number }
  | { status: 'connected'; transport: TransportName; connectedAt: number }
  | {
      status: 'reconnecting'
      transport: TransportName
      /** 1 for the first retry after a drop; resets once a connection has stayed up for a while. */
      attempt: number
      /** Milliseconds since epoch of the next attempt. */
      nextRetryAt: number
      /** Why the last connection ended or the last attempt failed. */
      error: HoldfastError | undefined
    }
  | {
      status: 'closed'
      transport: TransportName | undefined
      /** The terminal error, or `undefined` after `close()`. */
      error: HoldfastError | undefined
    }

/** A message as delivered to subscribers. */
export interface Message<TData = unknown> {
  channel: string
  cursor: Cursor
  data: TData
}

/** Reported when the server could not replay everything after a cursor (history trimmed or lost). */
export interface GapInfo {
  channel: string
  /** The cursor the client asked to resume after. */
  since: Cursor | undefined
  /** The channel's current epoch. */
  epoch: string
  /** The newest message in the channel when it was resubscribed. */
  cursor: Cursor
}

/** A confirmation of a channel's subscription, after every (re)connect. */
export interface SubscribedInfo {
  channel: string
  epoch: string
  /** The newest message in the channel when it was (re)subscribed. */
  cursor: Cursor
  /** False when history since the resume cursor could not be replayed in full (then `onGap` fires too). */
  recovered: boolean
}

export interface Subscription {
  readonly channel: string
  /** Cursor of the last message delivered on this channel (its resume point). */
  readonly cursor: Cursor | undefined
  unsubscribe(): void
}

export interface ClientEvents {
  gap: GapInfo
  error: HoldfastError
}
