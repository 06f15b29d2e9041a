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
export { type HistoryOptions, type MemoryBrokerOptions, memoryBroker } from './broker/memoryBroker'
export { type RedisBroker, type RedisBrokerOptions, redisBroker } from './broker/redisBroker'
export { type Clock, systemClock, type TimerHandle } from './Clock'
export {
  type CloseOptions,
  createServer,
  type HoldfastServer,
  type ListenOptions,
} from './createServer'
export { HoldfastServerError } from './HoldfastServerError'
export type { LogFields, Logger } from './Logger'
export type { ConnectionRateOptions } from './limits/ConnectionAdmission'
export type { MetricsOptions } from './metrics/ServerMetrics'
export type {
  AuthorizeHook,
  ChannelAction,
  LimitOptions,
  PollOptions,
  ServerOptions,
  SlowConsumerPolicy,
  SseOptions,
} from './ServerOptions'
