import type { Authenticator } from './auth/createAuthenticator'
import type { Broker } from './broker/Broker'
import type { Clock } from './Clock'
import type { ConnectionRegistry } from './ConnectionRegistry'
import type { Logger } from './Logger'
import type { ConnectionAdmission } from './limits/ConnectionAdmission'
import type { ServerMetrics } from './metrics/ServerMetrics'
import type { ResolvedOptions } from './ServerOptions'

/** What every transport handler shares. */
export interface ServerContext {
  readonly options: ResolvedOptions
  readonly broker: Broker
  readonly authenticator: Authenticator
  readonly clock: Clock
  readonly logger: Logger
  readonly random: () => number
  readonly connections: ConnectionRegistry
  /** The connection rate limit, when one is configured. */
  readonly admission: ConnectionAdmission | undefined
  readonly metrics: ServerMetrics
  /**
   * Called when the broker may have missed live messages on `channels` (every channel when absent);
   * each feed of those channels re-reads from its cursor.
   */
  readonly resyncListeners: Set<(channels?: ReadonlySet<string>) => void>
  isDraining(): boolean
}
