// Percentiles and a mergeable latency histogram.

/** The p-th percentile (0..100) of `values` by nearest rank; `values` need not be sorted. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function median(values) {
  return percentile(values, 50)
}

export function mean(values) {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** Rounds to `digits` significant digits, for tables that should not pretend to more precision. */
export function sig(value, digits = 3) {
  if (!Number.isFinite(value) || value === 0) return value
  return Number(value.toPrecision(digits))
}

const MIN_MS = 0.001
const GROWTH = 1.01
const BUCKETS = Math.ceil(Math.log(100_000 / MIN_MS) / Math.log(GROWTH)) + 1

/**
 * Latency histogram in milliseconds with 1 % wide buckets from 1 µs to 100 s: bounded memory for a
 * million samples, mergeable across processes, percentiles accurate to 1 %.
 */
export class Histogram {
  constructor(counts) {
    this.counts = counts ?? new Float64Array(BUCKETS)
    this.count = this.counts.reduce((a, b) => a + b, 0)
  }

  record(ms) {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)))
    this.counts[i]++
    this.count++
  }

  merge(other) {
    const counts = other instanceof Histogram ? other.counts : other
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += counts[i]
    this.count += counts.reduce((a, b) => a + b, 0)
    return this
  }

  /** Upper bound of the bucket holding the p-th percentile (0..100). */
  percentile(p) {
    if (this.count === 0) return Number.NaN
    const target = Math.ceil((p / 100) * this.count)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]
      if (seen >= Math.max(1, target)) return MIN_MS * GROWTH ** i
    }
    return MIN_MS * GROWTH ** (BUCKETS - 1)
  }
}
