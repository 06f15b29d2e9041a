export { WebhookErrorCode, WebhookVerificationError } from '../WebhookVerificationError'
export {
  type AssertDeliverableUrlOptions,
  assertDeliverableUrl,
  isBlockedAddress,
  type LookupAll,
} from './assertDeliverableUrl'
export {
  type AddEndpointOptions,
  createDispatcher,
  type Dispatcher,
  type DispatcherEvent,
  type DispatcherOptions,
  type DispatcherTimers,
  type SendOptions,
  type SendResult,
  type UpdateEndpointOptions,
} from './createDispatcher'
export type {
  ClaimedDelivery,
  DeadLetterReason,
  Delivery,
  DeliveryFailure,
  DeliveryStore,
  WebhookEndpoint,
} from './DeliveryStore'
export {
  type DispatcherMetrics,
  type EndpointMetrics,
  formatPrometheus,
  type LatencySummary,
} from './DispatcherMetrics'
export { MemoryDeliveryStore } from './MemoryDeliveryStore'
export { RedisDeliveryStore, type RedisDeliveryStoreOptions } from './RedisDeliveryStore'
export {
  DEFAULT_JITTER,
  DEFAULT_MAX_RETRY_AFTER_MS,
  DEFAULT_RETRY_DELAYS_MS,
  parseRetryAfterMs,
  type RetryDelayOptions,
  retryDelayMs,
} from './retryDelayMs'
