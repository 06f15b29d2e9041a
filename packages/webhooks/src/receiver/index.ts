export { WebhookErrorCode, WebhookVerificationError } from '../WebhookVerificationError'
export {
  createReceiver,
  RECEIVER_STATUS,
  type ReceivedWebhook,
  type ReceiverOptions,
  type ReceiverResponse,
  type WebhookReceiver,
} from './createReceiver'
export type { DedupeStore } from './DedupeStore'
export { MemoryDedupeStore, type MemoryDedupeStoreOptions } from './MemoryDedupeStore'
export { RedisDedupeStore, type RedisDedupeStoreOptions } from './RedisDedupeStore'
