export type { Cursor } from '@holdfast/protocol'
export type { ClientStats } from './core/ChannelRegistry'
export type { FallbackOptions } from './core/ConnectionMachine'
export type { HeartbeatOptions } from './core/Heartbeat'
export {
  type ClientOptions,
  type DeliveryEnv,
  type DeliveryPolicy,
  HoldfastClient,
  type PublishOptions,
  type SubscribeOptions,
} from './core/HoldfastClient'
export type { PublishQueueOptions, PublishResult } from './core/Publisher'
export type { BackoffOptions, JitterMode } from './core/RetryPolicy'
export type { GetToken } from './core/TokenManager'
export type { Timers } from './core/timers'
export type {
  ClientEvents,
  ConnectionState,
  GapInfo,
  Message,
  SubscribedInfo,
  Subscription,
} from './core/types'
export { type ErrorCode, HoldfastError } from './HoldfastError'
export type { FetchFunction, TransportName, WebSocketConstructor } from './transports/Transport'
