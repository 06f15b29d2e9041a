import type { Cursor } from '@holdfast/protocol'
import type { HoldfastError } from '../HoldfastError'
import type { TransportName } from '../transports/Transport'

/** Connection state, delivered beside the data. Switch on `status`. */
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
      error: HoldfastError | undefined
    }
  | { status: 'closed'; transport: TransportName | undefined; error: HoldfastError | undefined }

/** A message as delivered to subscribers. */
export interface Message<TData = unknown> {
  channel: string
  cursor: Cursor
  data: TData
}

/** Reported when the server could not replay everything after a cursor (history trimmed or lost). */
export interface GapInfo {
  channel: string
  /** The cursor the client asked to resume from. */
  since: Cursor | undefined
  /** The channel's current epoch. */
  epoch: string
  /** The newest message in the channel when it was resubscribed. */
  cursor: Cursor
}

export interface Subscription {
  readonly channel: string
  /** Cursor of the last message delivered on this channel. */
  readonly cursor: Cursor | undefined
  unsubscribe(): void
}

export interface ClientEvents {
  gap: GapInfo
  error: HoldfastError
}
