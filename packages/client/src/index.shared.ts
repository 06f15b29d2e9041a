export type { Cursor } from '@holdfast/protocol'
export type { BackoffOptions, JitterMode } from './core/backoff'
export { nextBackoffDelay, resolveBackoff } from './core/backoff'
export type { DeliveryPolicy, DeliverySchedule } from './core/delivery'
export {
  type ClientOptions,
  type ClientStats,
  HoldfastClient,
  type PublishOptions,
  type SubscribeOptions,
} from './core/HoldfastClient'
export type { HeartbeatOptions } from './core/heartbeat'
export type { StreamOptions } from './core/messageStream'
export type { PublishQueueOptions, PublishResult } from './core/publishQueue'
export type { Timers } from './core/timers'
export type { GetToken } from './core/tokenManager'
export type { ClientEvents, ConnectionState, GapInfo, Message, Subscription } from './core/types'
export { type ErrorCode, HoldfastError } from './HoldfastError'
export type { FetchFunction, TransportName, WebSocketConstructor } from './transports/Transport'
