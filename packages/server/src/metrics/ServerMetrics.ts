import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { StoredMessage } from '../broker/Broker'
import type { HistoryEviction, MemoryBrokerStats } from '../broker/memoryBroker'
import type { Clock } from '../Clock'
import type { ConnectionRegistry, TransportName } from '../ConnectionRegistry'

/** Where a published message came from. */
export type PublishSource = 'websocket' | 'http' | 'server'

/** What a slow consumer's message turned into instead of being sent. */
export type DropReason = 'drop' | 'latest'

export interface MetricsOptions {
  /** Register into this registry instead of a new one of the server's own. */
  registry?: Registry
  /** Prefix of every metric name. Defaults to `holdfast_`. */
  prefix?: string
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag). Defaults to false. */
  defaultMetrics?: boolean
  /**
   * Require `Authorization: Bearer <token>` on `GET /metrics` (Prometheus: `authorization: { credentials }`
   * in the scrape config). Without it the endpoint is open: expose it to your scraper only.
   */
  bearerToken?: string
}

/** What the transports report. A server without metrics gets `noMetrics`, which costs nothing. */
export interface ServerMetrics {
  readonly registry: Registry | undefined
  connected(transport: TransportName): void
  rateLimited(transport: TransportName): void
  authFailed(transport: TransportName | 'publish', code: string): void
  published(source: PublishSource, duplicate: boolean): void
  /** One message written to one connection; `live` ones feed the publish-to-deliver latency histogram. */
  delivered(transport: TransportName, message: StoredMessage, live: boolean): void
  /** A subscription started from a cursor; `recovered: false` is a gap. */
  resumed(transport: TransportName, recovered: boolean): void
  /** A poll answered `recovered: false` for a channel. */
  gap(transport: TransportName): void
  resynced(): void
  dropped(transport: TransportName, reason: DropReason): void
  slowConsumerClosed(transport: TransportName): void
  /** History the memory broker dropped to stay within its budget. */
  historyEvicted(eviction: HistoryEviction): void
}

const noop = () => {}

export const noMetrics: ServerMetrics = {
  registry: undefined,
  connected: noop,
  rateLimited: noop,
  authFailed: noop,
  published: noop,
  delivered: noop,
  resumed: noop,
  gap: noop,
  resynced: noop,
  dropped: noop,
  slowConsumerClosed: noop,
  historyEvicted: noop,
}

const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'poll']
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

type PerTransport = Record<TransportName, number>
const perTransport = (): PerTransport => ({ websocket: 0, sse: 0, poll: 0 })

/**
 * A histogram kept in plain numbers: it is observed once per delivered message per connection (a million
 * times a second under fan-out), where prom-client's own costs a label lookup each time. prom-client reads
 * it through `get()` like any other metric.
 */
class DeliveryLatency {
  readonly name: string
  readonly help =
    'Time from publish (broker timestamp) to writing a live message to a connection, in seconds.'
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #counts = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0)
  #sum = 0
  #count = 0

  constructor(name: string) {
    this.name = name
  }

  observeMs(ms: number): void {
    const seconds = ms > 0 ? ms / 1000 : 0
    let i = 0
    while (i < LATENCY_BUCKETS_SECONDS.length && seconds > LATENCY_BUCKETS_SECONDS[i]!) i++
    this.#counts[i]!++
    this.#sum += seconds
    this.#count++
  }

  get() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = []
    let cumulative = 0
    LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
      cumulative += this.#counts[i]!
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative })
    })
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.#count })
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.#sum })
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.#count })
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset(): void {
    this.#counts.fill(0)
    this.#sum = 0
    this.#count = 0
  }
}

/** Prometheus metrics of one server, in a registry of its own (never prom-client's global one). */
export function createServerMetrics(
  options: MetricsOptions,
  connections: ConnectionRegistry,
  clock: Clock,
  historyStats: () => MemoryBrokerStats | undefined = () => undefined,
): ServerMetrics {
  const registry = options.registry ?? new Registry()
  const p = options.prefix ?? 'holdfast_'
  const registers = [registry]
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: p })

  // Hot paths count into plain numbers; the counters copy them when scraped.
  const out = perTransport()
  const replayedOut = perTransport()
  const drops: Record<DropReason, PerTransport> = { drop: perTransport(), latest: perTransport() }
  const latency = new DeliveryLatency(`${p}publish_to_deliver_seconds`)
  registry.registerMetric(latency as never)

  new Gauge({
    name: `${p}connections`,
    help: 'Open connections by transport (held long polls included).',
    labelNames: ['transport'],
    registers,
    collect() {
      for (const t of TRANSPORTS) this.set({ transport: t }, connections.count(t))
    },
  })
  const connects = new Counter({
    name: `${p}connects_total`,
    help: 'Connections accepted: WebSockets, SSE streams, long polls that start a session. rate() gives connects per second.',
    labelNames: ['transport'],
    registers,
  })
  const rateLimited = new Counter({
    name: `${p}rate_limited_connects_total`,
    help: 'Connections refused by limits.connectionRate.',
    labelNames: ['transport'],
    registers,
  })
  const authFailures = new Counter({
    name: `${p}auth_failures_total`,
    help: 'Refused tokens, by transport and code (unauthorized, token_expired).',
    labelNames: ['transport', 'code'],
    registers,
  })
  const messagesIn = new Counter({
    name: `${p}messages_in_total`,
    help: 'Messages published and stored, by source (duplicates of an idempotency key not included).',
    labelNames: ['source'],
    registers,
  })
  const duplicates = new Counter({
    name: `${p}duplicate_publishes_total`,
    help: 'Publishes answered as duplicates of an idempotency key within the window.',
    registers,
  })
  new Counter({
    name: `${p}messages_out_total`,
    help: 'Messages written to clients, by transport (replayed and live).',
    labelNames: ['transport'],
    registers,
    collect() {
      this.reset()
      for (const t of TRANSPORTS) this.inc({ transport: t }, out[t])
    },
  })
  new Counter({
    name: `${p}replayed_messages_total`,
    help: 'Messages written from history (replays after a cursor, resyncs), by transport.',
    labelNames: ['transport'],
    registers,
    collect() {
      this.reset()
      for (const t of TRANSPORTS) this.inc({ transport: t }, replayedOut[t])
    },
  })
  const replays = new Counter({
    name: `${p}replays_total`,
    help: 'Subscriptions that resumed from a cursor.',
    labelNames: ['transport'],
    registers,
  })
  const gaps = new Counter({
    name: `${p}gaps_total`,
    help: 'Resumes that could not be served in full (recovered: false).',
    labelNames: ['transport'],
    registers,
  })
  const resyncs = new Counter({
    name: `${p}broker_resyncs_total`,
    help: 'Times the broker asked every subscription to re-read history (e.g. after Redis reconnected).',
    registers,
  })
  new Counter({
    name: `${p}dropped_messages_total`,
    help: "Live messages not sent to a slow consumer, by transport and policy ('drop', or 'latest' when superseded).",
    labelNames: ['transport', 'policy'],
    registers,
    collect() {
      this.reset()
      for (const policy of ['drop', 'latest'] as const)
        for (const t of TRANSPORTS) this.inc({ transport: t, policy }, drops[policy][t])
    },
  })
  const slowClosed = new Counter({
    name: `${p}slow_consumer_closes_total`,
    help: 'Connections closed because their send buffer overflowed.',
    labelNames: ['transport'],
    registers,
  })
  const evictedMessages = new Counter({
    name: `${p}history_evicted_messages_total`,
    help: 'Messages the memory broker dropped before their time to stay within history.maxBytes / maxChannels, by reason.',
    labelNames: ['reason'],
    registers,
  })
  new Gauge({
    name: `${p}history_bytes`,
    help: 'Estimated bytes of history the memory broker holds (bounded by history.maxBytes); absent with another broker.',
    registers,
    collect() {
      const stats = historyStats()
      if (stats) this.set(stats.bytes)
    },
  })
  new Gauge({
    name: `${p}history_channels`,
    help: 'Channel logs the memory broker holds (bounded by history.maxChannels); absent with another broker.',
    registers,
    collect() {
      const stats = historyStats()
      if (stats) this.set(stats.channels)
    },
  })
  for (const reason of ['max_bytes', 'max_channels']) evictedMessages.inc({ reason }, 0)
  for (const t of TRANSPORTS) {
    connects.inc({ transport: t }, 0)
    rateLimited.inc({ transport: t }, 0)
    replays.inc({ transport: t }, 0)
    gaps.inc({ transport: t }, 0)
    slowClosed.inc({ transport: t }, 0)
  }

  return {
    registry,
    connected: (transport) => connects.inc({ transport }),
    rateLimited: (transport) => rateLimited.inc({ transport }),
    authFailed: (transport, code) => authFailures.inc({ transport, code }),
    published(source, duplicate) {
      if (duplicate) duplicates.inc()
      else messagesIn.inc({ source })
    },
    delivered(transport, message, live) {
      out[transport]++
      if (live) latency.observeMs(clock.now() - message.time)
      else replayedOut[transport]++
    },
    resumed(transport, recovered) {
      replays.inc({ transport })
      if (!recovered) gaps.inc({ transport })
    },
    gap: (transport) => gaps.inc({ transport }),
    resynced: () => resyncs.inc(),
    dropped(transport, reason) {
      drops[reason][transport]++
    },
    slowConsumerClosed: (transport) => slowClosed.inc({ transport }),
    historyEvicted: (eviction) => evictedMessages.inc({ reason: eviction.reason }, eviction.messages),
  }
}
