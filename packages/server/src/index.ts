export {
  authorizeByChannelsClaim,
  CHANNELS_CLAIM,
  type ChannelsClaimOptions,
  channelsClaimAllows,
  matchesChannelPattern,
} from './auth/channelsClaim'
export type { AuthOptions, AuthUser } from './auth/createAuthenticator'
export type {
  Broker,
  MessageListener,
  PublishOptions,
  PublishResult,
  ReadOptions,
  ReadResult,
  StoredMessage,
} from './broker/Broker'
export { createStoredMessage, type StoredMessageInit } from './broker/createStoredMessage'
export {
  type HistoryEviction,
  type HistoryOptions,
  type MemoryBroker,
  type MemoryBrokerOptions,
  type MemoryBrokerStats,
  memoryBroker,
} from './broker/memoryBroker'
export { type RedisBroker, type RedisBrokerOptions, redisBroker } from './broker/redisBroker'
export { type Clock, systemClock, type TimerHandle } from './Clock'
export {
  type CloseOptions,
  createServer,
  type HoldfastServer,
  type ListenOptions,
} from './createServer'
export { HoldfastServerError, type HoldfastServerErrorOptions } from './HoldfastServerError'
export type { LogFields, Logger } from './Logger'
export type { ConnectionRateOptions } from './limits/ConnectionAdmission'
export type { RateOptions } from './limits/RateLimiter'
export type { MetricsOptions } from './metrics/ServerMetrics'
export type {
  AuthorizeHook,
  ChannelAction,
  HttpOptions,
  LimitOptions,
  PollOptions,
  ServerOptions,
  SlowConsumerPolicy,
  SseOptions,
} from './ServerOptions'
