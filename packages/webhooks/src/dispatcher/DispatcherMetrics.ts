/** Latency summary over the most recent samples (count, mean and max cover all of them). */
export interface LatencySummary {
  count: number
  meanMs: number | null
  p50Ms: number | null
  p95Ms: number | null
  p99Ms: number | null
  maxMs: number | null
}

/** Per-endpoint numbers, keyed by endpoint id. */
export interface EndpointMetrics {
  attempts: number
  succeeded: number
  failed: number
  /** failed / attempts; `null` before the first attempt. */
  failureRate: number | null
  latency: LatencySummary
}

/** A snapshot of what this dispatcher process did since it was created. Rates are `null` before the first attempt. */
export interface DispatcherMetrics {
  /** HTTP attempts made (refused SSRF checks count as failed attempts). */
  attempts: number
  /** Attempts answered 2xx: delivered. */
  succeeded: number
  /** Attempts that failed for any reason. */
  failed: number
  /** Attempts that were retries (attempt 2 and later). */
  retries: number
  /** succeeded / attempts. */
  successRate: number | null
  /** failed / attempts. */
  failureRate: number | null
  /** retries / attempts. */
  retryRate: number | null
  /** Deliveries this process moved to the dead-letter queue. */
  deadLettered: number
  /** Endpoints this process disabled after a 410 Gone. */
  endpointsDisabled: number
  /** Deliveries replayed from the dead-letter queue. */
  replayed: number
  /** Request time of each attempt, from sending to the response status. */
  attemptLatency: LatencySummary
  /** From `send` (or replay) to the 2xx, across retries: what your users feel. */
  deliveryLatency: LatencySummary
  endpoints: Record<string, EndpointMetrics>
}

const MAX_SAMPLES = 1024

class LatencyRecorder {
  #samples: number[] = []
  #next = 0
  #count = 0
  #sum = 0
  #max = 0

  record(ms: number): void {
    // A ring buffer keeps quantiles recent and memory bounded.
    if (this.#samples.length < MAX_SAMPLES) this.#samples.push(ms)
    else this.#samples[this.#next] = ms
    this.#next = (this.#next + 1) % MAX_SAMPLES
    this.#count++
    this.#sum += ms
    this.#max = Math.max(this.#max, ms)
  }

  summary(): LatencySummary {
    if (this.#count === 0)
      return { count: 0, meanMs: null, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null }
    const sorted = [...this.#samples].sort((a, b) => a - b)
    const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
    return {
      count: this.#count,
      meanMs: this.#sum / this.#count,
      p50Ms: quantile(0.5),
      p95Ms: quantile(0.95),
      p99Ms: quantile(0.99),
      maxMs: this.#max,
    }
  }
}

interface EndpointCounters {
  attempts: number
  succeeded: number
  failed: number
  latency: LatencyRecorder
}

const rate = (part: number, whole: number): number | null => (whole === 0 ? null : part / whole)

export class MetricsRecorder {
  #attempts = 0
  #succeeded = 0
  #failed = 0
  #retries = 0
  #deadLettered = 0
  #endpointsDisabled = 0
  #replayed = 0
  #attemptLatency = new LatencyRecorder()
  #deliveryLatency = new LatencyRecorder()
  #endpoints = new Map<string, EndpointCounters>()

  #endpoint(id: string): EndpointCounters {
    let counters = this.#endpoints.get(id)
    if (!counters) {
      counters = { attempts: 0, succeeded: 0, failed: 0, latency: new LatencyRecorder() }
      this.#endpoints.set(id, counters)
    }
    return counters
  }

  attempt(options: { endpointId: string; attempt: number; ok: boolean; latencyMs: number }): void {
    const endpoint = this.#endpoint(options.endpointId)
    this.#attempts++
    endpoint.attempts++
    if (options.attempt > 1) this.#retries++
    if (options.ok) {
      this.#succeeded++
      endpoint.succeeded++
    } else {
      this.#failed++
      endpoint.failed++
    }
    this.#attemptLatency.record(options.latencyMs)
    endpoint.latency.record(options.latencyMs)
  }

  delivered(latencyMs: number): void {
    this.#deliveryLatency.record(latencyMs)
  }

  deadLettered(): void {
    this.#deadLettered++
  }

  endpointDisabled(): void {
    this.#endpointsDisabled++
  }

  replayed(): void {
    this.#replayed++
  }

  snapshot(): DispatcherMetrics {
    const endpoints: Record<string, EndpointMetrics> = {}
    for (const [id, counters] of this.#endpoints) {
      endpoints[id] = {
        attempts: counters.attempts,
        succeeded: counters.succeeded,
        failed: counters.failed,
        failureRate: rate(counters.failed, counters.attempts),
        latency: counters.latency.summary(),
      }
    }
    return {
      attempts: this.#attempts,
      succeeded: this.#succeeded,
      failed: this.#failed,
      retries: this.#retries,
      successRate: rate(this.#succeeded, this.#attempts),
      failureRate: rate(this.#failed, this.#attempts),
      retryRate: rate(this.#retries, this.#attempts),
      deadLettered: this.#deadLettered,
      endpointsDisabled: this.#endpointsDisabled,
      replayed: this.#replayed,
      attemptLatency: this.#attemptLatency.summary(),
      deliveryLatency: this.#deliveryLatency.summary(),
      endpoints,
    }
  }
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** Renders a snapshot in the Prometheus text exposition format (counters and latency summaries). */
export function formatPrometheus(metrics: DispatcherMetrics, prefix = 'holdfast_webhooks'): string {
  const lines: string[] = []
  const counter = (name: string, help: string, rows: Array<[labels: string, value: number]>) => {
    lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} counter`)
    for (const [labels, value] of rows) lines.push(`${prefix}_${name}${labels} ${value}`)
  }
  const summary = (name: string, help: string, latency: LatencySummary) => {
    lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} summary`)
    for (const [q, value] of [
      ['0.5', latency.p50Ms],
      ['0.95', latency.p95Ms],
      ['0.99', latency.p99Ms],
    ] as const) {
      if (value !== null) lines.push(`${prefix}_${name}{quantile="${q}"} ${value}`)
    }
    lines.push(
      `${prefix}_${name}_sum ${(latency.meanMs ?? 0) * latency.count}`,
      `${prefix}_${name}_count ${latency.count}`,
    )
  }
  const perEndpoint = (pick: (m: EndpointMetrics) => number): Array<[string, number]> =>
    Object.entries(metrics.endpoints).map(([id, m]) => [`{endpoint="${escapeLabel(id)}"}`, pick(m)])
  counter(
    'attempts_total',
    'Delivery attempts per endpoint.',
    perEndpoint((m) => m.attempts),
  )
  counter(
    'succeeded_total',
    'Attempts answered 2xx per endpoint.',
    perEndpoint((m) => m.succeeded),
  )
  counter(
    'failed_total',
    'Failed attempts per endpoint.',
    perEndpoint((m) => m.failed),
  )
  counter('retries_total', 'Attempts that were retries.', [['', metrics.retries]])
  counter('dead_lettered_total', 'Deliveries moved to the dead-letter queue.', [['', metrics.deadLettered]])
  counter('endpoints_disabled_total', 'Endpoints disabled after 410 Gone.', [['', metrics.endpointsDisabled]])
  counter('replayed_total', 'Deliveries replayed from the dead-letter queue.', [['', metrics.replayed]])
  summary('attempt_latency_ms', 'Request time of one attempt.', metrics.attemptLatency)
  summary('delivery_latency_ms', 'Time from send to the 2xx, across retries.', metrics.deliveryLatency)
  return `${lines.join('\n')}\n`
}
