import type { Authenticator } from './auth/createAuthenticator'
import type { Broker } from './broker/Broker'
import type { Clock } from './Clock'
import type { ConnectionRegistry } from './ConnectionRegistry'
import type { FeedEnvironment } from './delivery/ChannelFeed'
import type { Logger } from './Logger'
import type { ConnectionAdmission } from './limits/ConnectionAdmission'
import type { KeyedRateLimiter, Rate } from './limits/RateLimiter'
import type { ServerMetrics } from './metrics/ServerMetrics'
import type { PresenceService } from './presence/PresenceService'
import type { ResolvedOptions } from './ServerOptions'

/** Something that re-reads from its cursor when the broker may have missed live messages. */
export interface ResyncListener {
  /** `channels` names the channels affected; without it, every channel is. */
  resync(channels?: ReadonlySet<string>): void
}

/** The limiters every transport consults; `undefined` where the limit is off. */
export interface ServerLimiters {
  /** `limits.connectionRate`: new connections, taken only once a connection is authenticated. */
  readonly admission: ConnectionAdmission | undefined
  /** `limits.authFailureRate`: failed authentications per client address. */
  readonly authFailures: KeyedRateLimiter | undefined
  /** `limits.publishRatePerClient`: publishes per user, or per address when anonymous. */
  readonly publishPerClient: KeyedRateLimiter | undefined
  /** `limits.publishRate`: the rate of each WebSocket's own bucket. */
  readonly publishPerConnection: Rate | undefined
}

/** What every transport handler shares. */
export interface ServerContext {
  readonly options: ResolvedOptions
  readonly broker: Broker
  readonly authenticator: Authenticator
  readonly clock: Clock
  readonly logger: Logger
  readonly random: () => number
  readonly connections: ConnectionRegistry
  readonly limits: ServerLimiters
  readonly metrics: ServerMetrics
  /**
   * Called when the broker may have missed live messages on some channels (every channel when the
   * broker names none); each feed of those channels re-reads from its cursor.
   */
  readonly resyncListeners: Set<ResyncListener>
  /** What every channel feed of this server shares. */
  readonly feeds: FeedEnvironment
  /** Presence: members, their liveness and sweeps (its state lives in `broker.presence`). */
  readonly presence: PresenceService
  isDraining(): boolean
}
