import { decodeSecret, generateSecret, MIN_SIGNING_SECRET_BYTES } from '../generateSecret'
import { sign } from '../sign'
import { WebhookVerificationError } from '../WebhookVerificationError'
import { assertDeliverableUrl, type LookupAll, systemLookup } from './assertDeliverableUrl'
import type {
  ClaimedDelivery,
  DeadLetterReason,
  Delivery,
  DeliveryFailure,
  DeliveryStore,
  WebhookEndpoint,
} from './DeliveryStore'
import { type DispatcherMetrics, formatPrometheus, MetricsRecorder } from './DispatcherMetrics'
import { MemoryDeliveryStore } from './MemoryDeliveryStore'
import { createWebhookAgents, postWebhook, type WebhookAgents, type WebhookAnswer } from './postWebhook'
import {
  DEFAULT_JITTER,
  DEFAULT_MAX_RETRY_AFTER_MS,
  DEFAULT_RETRY_DELAYS_MS,
  parseRetryAfterMs,
  retryDelayMs,
} from './retryDelayMs'

/** Timer functions, injectable so tests can drive the schedule with fake timers. */
export interface DispatcherTimers {
  setTimeout(callback: () => void, delayMs: number): unknown
  clearTimeout(handle: unknown): void
}

/** Lifecycle notifications, for logging and tests. */
export type DispatcherEvent =
  | { type: 'attempt'; delivery: Delivery; attempt: number }
  | { type: 'delivered'; delivery: Delivery; status: number; latencyMs: number }
  | { type: 'retry_scheduled'; delivery: Delivery; delayMs: number; failure: DeliveryFailure }
  | { type: 'dead_lettered'; delivery: Delivery; reason: DeadLetterReason }
  | { type: 'endpoint_disabled'; endpoint: WebhookEndpoint }

export interface DispatcherOptions {
  /** Where endpoints, pending deliveries and the dead-letter queue live. Defaults to a new `MemoryDeliveryStore`. */
  store?: DeliveryStore
  /**
   * Waits before each retry; the first attempt is immediate, so N entries mean N + 1 attempts.
   * Defaults to `DEFAULT_RETRY_DELAYS_MS` (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
   * A short schedule: `[1000, 5000, 30000, 300000, 1800000]`.
   */
  retryDelaysMs?: readonly number[]
  /** Each wait lands uniformly in `[d·(1−jitter), d·(1+jitter)]`, rounded to whole ms. From 0 to 1; defaults to 0.2. */
  jitter?: number
  /** Per-attempt timeout until the response status arrives; then the attempt counts as failed and is retried. Defaults to 15000. */
  timeoutMs?: number
  /** Ceiling on a receiver's `Retry-After`. Defaults to 24 h. */
  maxRetryAfterMs?: number
  /** Allow endpoints on loopback, private and link-local addresses (turns the SSRF guard off). Defaults to false. */
  allowPrivateNetworks?: boolean
  /** Attempts in flight at once in this process. Defaults to 10. */
  concurrency?: number
  /**
   * How long a claimed delivery stays hidden from other dispatchers. If this process dies mid-attempt,
   * the delivery becomes due again after it. Defaults to `timeoutMs + 60000`.
   */
  leaseMs?: number
  /** How often to look for deliveries other processes enqueued. Defaults to 1000 for shared stores (Redis); memory stores need no polling. */
  pollIntervalMs?: number
  /** Start delivering at once. With false, call `start()` (the CLI uses this to only read and replay). Defaults to true. */
  autoStart?: boolean
  /** `user-agent` header. Defaults to `holdfast-webhooks`. */
  userAgent?: string
  /**
   * Sends with this `fetch` instead (tests, a proxy-aware fetch). By default deliveries go over node:http(s),
   * which connects to the very addresses the SSRF guard checked; an injected `fetch` resolves names itself,
   * so the guard then checks before the request only (see docs/webhooks.md, DNS rebinding).
   */
  fetch?: typeof fetch
  /** Resolver used by the SSRF guard. Defaults to `dns.lookup(host, { all: true })`. */
  lookup?: LookupAll
  /** Clock in milliseconds since the epoch. Defaults to `Date.now`. */
  now?: () => number
  /** Defaults to the global `setTimeout`/`clearTimeout`, looked up on each call. */
  timers?: DispatcherTimers
  /** Uniform random number in [0, 1) for jitter. Defaults to `Math.random`. */
  random?: () => number
  /** Id factory; `kind` is the prefix (`msg`, `dlv`, `ep`). Defaults to the prefix plus a random UUID without dashes. */
  generateId?: (kind: 'msg' | 'dlv' | 'ep') => string
  /** Lifecycle notifications. */
  onEvent?: (event: DispatcherEvent) => void
  /** Errors of the background loop (a store that is down). Defaults to `console.error`. */
  onError?: (error: unknown) => void
}

export interface AddEndpointOptions {
  url: string
  /** Event types to deliver: exact names, `prefix.*`, or `*`. */
  eventTypes: readonly string[]
  /** `whsec_` secrets, newest first. Defaults to one fresh `generateSecret()`. */
  secrets?: readonly string[]
  /** Defaults to a generated `ep_…` id. */
  id?: string
}

export interface UpdateEndpointOptions {
  id: string
  url?: string
  eventTypes?: readonly string[]
  /** Replace the secrets; during rotation pass `[newSecret, oldSecret]`, later only `[newSecret]`. */
  secrets?: readonly string[]
  /** `false` re-enables an endpoint disabled by a 410. */
  disabled?: boolean
}

export interface SendOptions {
  /** Event type, matched against each endpoint's `eventTypes`. */
  eventType: string
  /** Serialised with `JSON.stringify`; a string is sent as-is (you serialised it). */
  payload: unknown
  /** `webhook-id` of this message. Defaults to a generated `msg_…` id; pass your own to make `send` idempotent for receivers. */
  id?: string
}

export interface SendResult {
  messageId: string
  /** One per matching enabled endpoint; empty when no endpoint wants this event type. */
  deliveries: Delivery[]
}

export interface Dispatcher {
  addEndpoint(options: AddEndpointOptions): Promise<WebhookEndpoint>
  updateEndpoint(options: UpdateEndpointOptions): Promise<WebhookEndpoint>
  removeEndpoint(id: string): Promise<boolean>
  listEndpoints(): Promise<WebhookEndpoint[]>
  /** Accepts one event: resolves once a delivery per matching endpoint is stored; attempts run in the background. */
  send(options: SendOptions): Promise<SendResult>
  getDelivery(id: string): Promise<Delivery | undefined>
  /** Dead deliveries, newest first. `limit` defaults to 100. */
  listDeadLetters(options?: { limit?: number; offset?: number }): Promise<Delivery[]>
  /**
   * Moves a dead delivery back to the queue for an immediate new run of the retry schedule, with the
   * same `webhook-id`. Throws `delivery_not_found` when it is not in the dead-letter queue and
   * `endpoint_disabled` when its endpoint is disabled (enable it first).
   */
  replay(deliveryId: string): Promise<Delivery>
  /** Counters, rates and latency since this dispatcher was created. */
  metrics(): DispatcherMetrics
  /** The same numbers in the Prometheus text format. */
  metricsText(): string
  start(): void
  /** Stops taking new attempts and waits for those in flight. Pending deliveries stay in the store. */
  close(): Promise<void>
  /** Resolves when no attempt is in flight and the loop is waiting for its timer. */
  whenIdle(): Promise<void>
}

const MAX_TIMER_DELAY_MS = 2 ** 31 - 1
const ERROR_BACKOFF_MS = 1000

const defaultTimers: DispatcherTimers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

function defaultGenerateId(kind: 'msg' | 'dlv' | 'ep'): string {
  return `${kind}_${globalThis.crypto.randomUUID().replace(/-/g, '')}`
}

function invalidOption(message: string): WebhookVerificationError {
  return new WebhookVerificationError('invalid_options', `[holdfast] ${message}`)
}

function matchesEventType(patterns: readonly string[], eventType: string): boolean {
  return patterns.some(
    (pattern) =>
      pattern === '*' ||
      pattern === eventType ||
      (pattern.endsWith('.*') && eventType.startsWith(pattern.slice(0, -1))),
  )
}

type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; failure: DeliveryFailure; retryAfterMs?: number }
  | { kind: 'gone'; failure: DeliveryFailure }
  | { kind: 'rejected'; failure: DeliveryFailure; reason: DeadLetterReason }

/**
 * Creates the sending side: endpoints per event type, signed deliveries with an id that stays the
 * same across retries, retries with jitter for network errors, timeouts, 408, 429 and 5xx
 * (honouring `Retry-After`), 410 Gone disabling the endpoint, and a dead-letter queue with replay.
 * Other 3xx/4xx responses are final and go straight to the dead-letter queue.
 *
 * @example
 * const dispatcher = createDispatcher({ store: new RedisDeliveryStore({ redis }) })
 * const endpoint = await dispatcher.addEndpoint({ url: 'https://example.com/hooks', eventTypes: ['invoice.paid'] })
 * await dispatcher.send({ eventType: 'invoice.paid', payload: { type: 'invoice.paid', data: { id: 'in_1' } } })
 */
export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const store = options.store ?? new MemoryDeliveryStore()
  const retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS
  const jitter = options.jitter ?? DEFAULT_JITTER
  const timeoutMs = options.timeoutMs ?? 15_000
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS
  const concurrency = options.concurrency ?? 10
  const leaseMs = options.leaseMs ?? timeoutMs + 60_000
  const pollIntervalMs = options.pollIntervalMs ?? (store.shared ? 1000 : Number.POSITIVE_INFINITY)
  const userAgent = options.userAgent ?? 'holdfast-webhooks'
  const now = options.now ?? (() => Date.now())
  const timers = options.timers ?? defaultTimers
  const random = options.random ?? Math.random
  const generateId = options.generateId ?? defaultGenerateId
  const onError =
    options.onError ?? ((error: unknown) => console.error('[holdfast] webhook dispatcher:', error))
  const guardOptions = { allowPrivateNetworks: options.allowPrivateNetworks ?? false, lookup: options.lookup }

  let agents: WebhookAgents | undefined
  /** An injected `fetch` resolves names itself; by default node:http connects to the addresses it checks. */
  async function post(
    url: string,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<WebhookAnswer> {
    if (!options.fetch) {
      agents ??= createWebhookAgents()
      const lookup = options.lookup ?? systemLookup
      const guard = !guardOptions.allowPrivateNetworks
      return postWebhook(url, { headers, body, signal, lookup, guard, agents })
    }
    // Following a redirect would let an endpoint bounce us to an address the SSRF guard refused.
    const response = await options.fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal })
    // The body is never read; cancelling it frees the connection.
    response.body?.cancel().catch(() => {})
    return { status: response.status, retryAfter: response.headers.get('retry-after') }
  }

  if (!retryDelaysMs.every((d) => Number.isFinite(d) && d >= 0)) {
    throw invalidOption('retryDelaysMs must hold non-negative numbers of milliseconds')
  }
  if (!(jitter >= 0 && jitter <= 1)) throw invalidOption(`jitter must be between 0 and 1, got ${jitter}`)
  if (!(timeoutMs > 0)) throw invalidOption(`timeoutMs must be positive, got ${timeoutMs}`)
  if (!(Number.isInteger(concurrency) && concurrency > 0))
    throw invalidOption('concurrency must be a positive integer')
  if (!(leaseMs > timeoutMs)) throw invalidOption('leaseMs must be longer than timeoutMs')

  const metrics = new MetricsRecorder()
  const inFlight = new Set<Promise<void>>()
  let running = false
  let closed = false
  let ticking: Promise<void> | undefined
  let wakeRequested = false
  let timer: unknown
  let hasTimer = false

  const emit = (event: DispatcherEvent) => {
    try {
      options.onEvent?.(event)
    } catch (error) {
      onError(error)
    }
  }

  function clearTimer() {
    if (hasTimer) timers.clearTimeout(timer)
    hasTimer = false
  }

  function armTimer(delayMs: number) {
    clearTimer()
    if (!running || !Number.isFinite(delayMs)) return
    hasTimer = true
    timer = timers.setTimeout(
      () => {
        hasTimer = false
        wake()
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS),
    )
  }

  function wake() {
    if (!running) return
    wakeRequested = true
    ticking ??= tick()
  }

  async function tick() {
    // Yield first: a pass that finished synchronously would clear `ticking` before `??=` set it.
    await undefined
    try {
      // Checking the flag and clearing `ticking` happen in one synchronous step, so a wake()
      // arriving while a pass is running is never lost.
      while (wakeRequested && running) {
        wakeRequested = false
        clearTimer()
        try {
          const free = concurrency - inFlight.size
          if (free > 0) {
            const claims = await store.claimDue({ nowMs: now(), limit: free, leaseMs })
            for (const claim of claims) track(attempt(claim))
          }
          // At full concurrency the next finished attempt wakes the loop; no timer needed.
          if (inFlight.size < concurrency) {
            const nextDueAt = await store.nextDueAt()
            const untilDue = nextDueAt === undefined ? Number.POSITIVE_INFINITY : nextDueAt - now()
            armTimer(Math.min(untilDue, pollIntervalMs))
          }
        } catch (error) {
          onError(error)
          armTimer(ERROR_BACKOFF_MS)
        }
      }
    } finally {
      ticking = undefined
    }
  }

  function track(promise: Promise<void>) {
    const tracked = promise
      .catch((error) => onError(error))
      .finally(() => {
        inFlight.delete(tracked)
        wake()
      })
    inFlight.add(tracked)
  }

  async function request(endpoint: WebhookEndpoint, delivery: Delivery): Promise<AttemptOutcome> {
    const failedAt = () => now()
    try {
      await assertDeliverableUrl(endpoint.url, guardOptions)
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        const blocked = error.code === 'blocked_address'
        return {
          kind: 'rejected',
          reason: blocked ? 'blocked_address' : 'rejected',
          failure: { kind: blocked ? 'blocked' : 'invalid_url', message: error.message, at: failedAt() },
        }
      }
      // DNS failures are network errors: the name may resolve later.
      return { kind: 'retry', failure: { kind: 'network', message: describe(error), at: failedAt() } }
    }
    const headers = await sign({
      id: delivery.messageId,
      timestamp: Math.floor(now() / 1000),
      payload: delivery.payload,
      secret: endpoint.secrets,
    })
    const controller = new AbortController()
    let timedOut = false
    const timeout = timers.setTimeout(() => {
      timedOut = true
      controller.abort()
    }, timeoutMs)
    try {
      const { status, retryAfter } = await post(
        endpoint.url,
        {
          ...headers,
          'content-type': 'application/json',
          'user-agent': userAgent,
        },
        delivery.payload,
        controller.signal,
      )
      if (status >= 200 && status < 300) return { kind: 'delivered', status }
      const failure: DeliveryFailure = { kind: 'status', status, message: `HTTP ${status}`, at: failedAt() }
      if (status === 410) return { kind: 'gone', failure }
      if (status === 408 || status === 429 || (status >= 500 && status < 600)) {
        return {
          kind: 'retry',
          failure,
          retryAfterMs: parseRetryAfterMs(retryAfter, now()),
        }
      }
      return { kind: 'rejected', reason: 'rejected', failure }
    } catch (error) {
      if (error instanceof WebhookVerificationError && error.code === 'blocked_address') {
        // The name resolved to a refused address when connecting, though not when checked: rebinding.
        return {
          kind: 'rejected',
          reason: 'blocked_address',
          failure: { kind: 'blocked', message: error.message, at: failedAt() },
        }
      }
      if (timedOut) {
        return {
          kind: 'retry',
          failure: { kind: 'timeout', message: `no response within ${timeoutMs} ms`, at: failedAt() },
        }
      }
      return { kind: 'retry', failure: { kind: 'network', message: describe(error), at: failedAt() } }
    } finally {
      timers.clearTimeout(timeout)
    }
  }

  async function deadLetter(claim: ClaimedDelivery, delivery: Delivery, reason: DeadLetterReason) {
    const dead: Delivery = { ...delivery, status: 'dead', deadAt: now(), deadReason: reason }
    if (await store.deadLetter(claim, dead)) {
      metrics.deadLettered()
      emit({ type: 'dead_lettered', delivery: dead, reason })
    }
  }

  async function attempt(claim: ClaimedDelivery) {
    const { delivery } = claim
    const endpoint = await store.getEndpoint(delivery.endpointId)
    if (!endpoint) return deadLetter(claim, delivery, 'endpoint_removed')
    if (endpoint.disabled) return deadLetter(claim, delivery, 'endpoint_disabled')

    const attemptNumber = delivery.attempts + 1
    emit({ type: 'attempt', delivery, attempt: attemptNumber })
    const startedAt = now()
    const outcome = await request(endpoint, delivery)
    const latencyMs = now() - startedAt
    metrics.attempt({
      endpointId: endpoint.id,
      attempt: attemptNumber,
      ok: outcome.kind === 'delivered',
      latencyMs,
    })

    const attempted: Delivery = { ...delivery, attempts: attemptNumber }
    switch (outcome.kind) {
      case 'delivered': {
        if (await store.complete(claim)) {
          metrics.delivered(now() - delivery.queuedAt)
          emit({ type: 'delivered', delivery: attempted, status: outcome.status, latencyMs })
        }
        return
      }
      case 'gone': {
        const latest = (await store.getEndpoint(endpoint.id)) ?? endpoint
        const disabled: WebhookEndpoint = {
          ...latest,
          disabled: true,
          disabledReason: 'gone',
          disabledAt: now(),
        }
        await store.saveEndpoint(disabled)
        metrics.endpointDisabled()
        emit({ type: 'endpoint_disabled', endpoint: disabled })
        return deadLetter(claim, { ...attempted, lastFailure: outcome.failure }, 'endpoint_disabled')
      }
      case 'rejected':
        return deadLetter(claim, { ...attempted, lastFailure: outcome.failure }, outcome.reason)
      case 'retry': {
        const delayMs = retryDelayMs({
          retry: attemptNumber,
          delaysMs: retryDelaysMs,
          jitter,
          random,
          retryAfterMs: outcome.retryAfterMs,
          maxRetryAfterMs,
        })
        const failed: Delivery = { ...attempted, lastFailure: outcome.failure }
        if (delayMs === undefined) return deadLetter(claim, failed, 'exhausted')
        const next: Delivery = { ...failed, nextAttemptAt: now() + delayMs }
        if (await store.reschedule(claim, next)) {
          emit({ type: 'retry_scheduled', delivery: next, delayMs, failure: outcome.failure })
        }
        return
      }
    }
  }

  async function validateEndpoint(url: string, eventTypes: readonly string[], secrets: readonly string[]) {
    if (eventTypes.length === 0 || !eventTypes.every((t) => typeof t === 'string' && t.length > 0)) {
      throw invalidOption('an endpoint needs at least one event type (use "*" for all)')
    }
    if (secrets.length === 0) throw invalidOption('an endpoint needs at least one secret')
    for (const secret of secrets) decodeSecret(secret, MIN_SIGNING_SECRET_BYTES)
    try {
      await assertDeliverableUrl(url, guardOptions)
    } catch (error) {
      // A name that does not resolve yet may later; only refuse what is known to be wrong.
      if (error instanceof WebhookVerificationError) throw error
    }
  }

  async function requireEndpoint(id: string): Promise<WebhookEndpoint> {
    const endpoint = await store.getEndpoint(id)
    if (!endpoint)
      throw new WebhookVerificationError('endpoint_not_found', `[holdfast] no endpoint with id ${id}`)
    return endpoint
  }

  const dispatcher: Dispatcher = {
    async addEndpoint(input) {
      const secrets = input.secrets ? [...input.secrets] : [generateSecret()]
      await validateEndpoint(input.url, input.eventTypes, secrets)
      const endpoint: WebhookEndpoint = {
        id: input.id ?? generateId('ep'),
        url: input.url,
        eventTypes: [...input.eventTypes],
        secrets,
        disabled: false,
        createdAt: now(),
      }
      await store.saveEndpoint(endpoint)
      return endpoint
    },

    async updateEndpoint(input) {
      const current = await requireEndpoint(input.id)
      const next: WebhookEndpoint = {
        ...current,
        url: input.url ?? current.url,
        eventTypes: input.eventTypes ? [...input.eventTypes] : current.eventTypes,
        secrets: input.secrets ? [...input.secrets] : current.secrets,
      }
      if (input.disabled === false) {
        next.disabled = false
        delete next.disabledReason
        delete next.disabledAt
      } else if (input.disabled === true && !current.disabled) {
        Object.assign(next, { disabled: true, disabledReason: 'manual', disabledAt: now() })
      }
      await validateEndpoint(next.url, next.eventTypes, next.secrets)
      await store.saveEndpoint(next)
      return next
    },

    removeEndpoint: (id) => store.deleteEndpoint(id),
    listEndpoints: () => store.listEndpoints(),

    async send(input) {
      if (closed) throw invalidOption('send() after close()')
      if (typeof input.eventType !== 'string' || input.eventType.length === 0) {
        throw invalidOption('send({ eventType }) must be a non-empty string')
      }
      const messageId = input.id ?? generateId('msg')
      if (messageId.length === 0 || messageId.includes('.')) {
        throw new WebhookVerificationError(
          'invalid_header',
          "[holdfast] a webhook id must be non-empty and free of '.'",
        )
      }
      const payload = typeof input.payload === 'string' ? input.payload : JSON.stringify(input.payload)
      if (payload === undefined) throw invalidOption('send({ payload }) must be JSON-serialisable')
      const acceptedAt = now()
      const endpoints = (await store.listEndpoints()).filter(
        (endpoint) => !endpoint.disabled && matchesEventType(endpoint.eventTypes, input.eventType),
      )
      const deliveries = endpoints.map(
        (endpoint): Delivery => ({
          id: generateId('dlv'),
          messageId,
          endpointId: endpoint.id,
          eventType: input.eventType,
          payload,
          createdAt: acceptedAt,
          queuedAt: acceptedAt,
          attempts: 0,
          nextAttemptAt: acceptedAt,
          status: 'pending',
          replays: 0,
        }),
      )
      await store.enqueue(deliveries)
      wake()
      return { messageId, deliveries }
    },

    getDelivery: (id) => store.getDelivery(id),

    listDeadLetters: (input = {}) =>
      store.listDeadLetters({ limit: input.limit ?? 100, offset: input.offset ?? 0 }),

    async replay(deliveryId) {
      const dead = await store.getDelivery(deliveryId)
      if (dead?.status !== 'dead') {
        throw new WebhookVerificationError(
          'delivery_not_found',
          `[holdfast] ${deliveryId} is not in the dead-letter queue (list it with listDeadLetters())`,
        )
      }
      const endpoint = await requireEndpoint(dead.endpointId)
      if (endpoint.disabled) {
        throw new WebhookVerificationError(
          'endpoint_disabled',
          `[holdfast] endpoint ${endpoint.id} is disabled (${endpoint.disabledReason ?? 'manual'}); re-enable it with updateEndpoint({ id, disabled: false }) before replaying`,
        )
      }
      const replayedAt = now()
      const { deadAt: _deadAt, deadReason: _deadReason, ...rest } = dead
      const queued: Delivery = {
        ...rest,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: replayedAt,
        queuedAt: replayedAt,
        replays: dead.replays + 1,
      }
      if (!(await store.requeueDeadLetter(queued))) {
        throw new WebhookVerificationError(
          'delivery_not_found',
          `[holdfast] ${deliveryId} was already replayed`,
        )
      }
      metrics.replayed()
      wake()
      return queued
    },

    metrics: () => metrics.snapshot(),
    metricsText: () => formatPrometheus(metrics.snapshot()),

    start() {
      if (closed || running) return
      running = true
      wake()
    },

    async close() {
      closed = true
      running = false
      clearTimer()
      await dispatcher.whenIdle()
      agents?.http.destroy()
      agents?.https.destroy()
      agents = undefined
    },

    async whenIdle() {
      while (ticking || inFlight.size > 0) {
        await Promise.allSettled([ticking, ...inFlight])
      }
    },
  }

  if (options.autoStart ?? true) dispatcher.start()
  return dispatcher
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause
    const detail = cause && typeof cause === 'object' ? (cause.code ?? cause.message) : undefined
    return detail ? `${error.message} (${String(detail)})` : error.message
  }
  return String(error)
}
