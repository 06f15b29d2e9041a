/** A receiver URL and the events it wants. Stored, so every dispatcher process sees the same list. */
export interface WebhookEndpoint {
  id: string
  url: string
  /** Event types delivered here: exact names, `prefix.*`, or `*` for everything. */
  eventTypes: string[]
  /** `whsec_` secrets; each delivery carries one signature per secret (key rotation). */
  secrets: string[]
  /** Disabled endpoints get nothing; their pending deliveries go to the dead-letter queue. */
  disabled: boolean
  /** Why it was disabled: `gone` after a 410 response, `manual` through `updateEndpoint`. */
  disabledReason?: 'gone' | 'manual'
  /** Milliseconds since the epoch. */
  disabledAt?: number
  /** Milliseconds since the epoch. */
  createdAt: number
}

/** Why a delivery ended in the dead-letter queue. */
export type DeadLetterReason =
  /** Every attempt of the retry schedule failed. */
  | 'exhausted'
  /** The endpoint answered a status that retrying cannot fix (3xx, 4xx other than 408, 410 and 429). */
  | 'rejected'
  /** The endpoint answered 410 Gone, or was disabled by hand. */
  | 'endpoint_disabled'
  /** The endpoint was removed while the delivery was pending. */
  | 'endpoint_removed'
  /** The SSRF guard refused the endpoint's address. */
  | 'blocked_address'

/** What went wrong on the last failed attempt. */
export interface DeliveryFailure {
  kind: 'network' | 'timeout' | 'status' | 'blocked' | 'invalid_url'
  /** HTTP status, for `kind: 'status'`. */
  status?: number
  message: string
  /** Milliseconds since the epoch. */
  at: number
}

/** One message on its way to one endpoint. */
export interface Delivery {
  /** Delivery id (`dlv_…`): what the dead-letter queue lists and `replay` takes. */
  id: string
  /** Message id sent as `webhook-id`: the same on every retry and replay, and for every endpoint of one `send`. */
  messageId: string
  endpointId: string
  eventType: string
  /** The exact body sent on every attempt. */
  payload: string
  /** Milliseconds since the epoch, when `send` accepted it. */
  createdAt: number
  /** Milliseconds since the epoch, when the current run started: `send`, or the last replay. */
  queuedAt: number
  /** Attempts made so far in the current run (a replay starts a new run at 0). */
  attempts: number
  /** Milliseconds since the epoch of the next attempt. */
  nextAttemptAt: number
  status: 'pending' | 'dead'
  lastFailure?: DeliveryFailure
  deadAt?: number
  deadReason?: DeadLetterReason
  /** How many times it was replayed from the dead-letter queue. */
  replays: number
}

/** A delivery taken by one dispatcher for one attempt. Only the holder of `token` may settle it. */
export interface ClaimedDelivery {
  delivery: Delivery
  token: string
}

/**
 * Where the dispatcher keeps endpoints, pending deliveries and the dead-letter queue.
 * `MemoryDeliveryStore` is the default; `RedisDeliveryStore` survives restarts and lets several
 * dispatcher processes share the work. Implement this to use another database.
 */
export interface DeliveryStore {
  /** True when other processes may enqueue or settle deliveries, so the dispatcher must poll. */
  readonly shared: boolean
  saveEndpoint(endpoint: WebhookEndpoint): Promise<void>
  getEndpoint(id: string): Promise<WebhookEndpoint | undefined>
  listEndpoints(): Promise<WebhookEndpoint[]>
  deleteEndpoint(id: string): Promise<boolean>
  /** Stores new pending deliveries, all or none; resolves once they are durable. */
  enqueue(deliveries: readonly Delivery[]): Promise<void>
  /**
   * Atomically takes up to `limit` deliveries due at `nowMs` and hides them for `leaseMs`, so no
   * other dispatcher attempts them meanwhile. A holder that dies loses the lease and the delivery
   * becomes due again.
   */
  claimDue(options: { nowMs: number; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]>
  /** Removes a delivered delivery. False when the claim was lost (lease expired and taken over). */
  complete(claim: ClaimedDelivery): Promise<boolean>
  /** Saves `delivery` (with its new `nextAttemptAt`) and releases the claim. */
  reschedule(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean>
  /** Moves `delivery` (status `dead`) to the dead-letter queue and releases the claim. */
  deadLetter(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean>
  /** Atomically moves a dead delivery back to the queue as `delivery`. False when it was not dead. */
  requeueDeadLetter(delivery: Delivery): Promise<boolean>
  getDelivery(id: string): Promise<Delivery | undefined>
  /** Dead deliveries, newest first. */
  listDeadLetters(options: { limit: number; offset: number }): Promise<Delivery[]>
  countDeadLetters(): Promise<number>
  /** Due time of the earliest pending delivery (claimed ones count at their lease end). */
  nextDueAt(): Promise<number | undefined>
}
