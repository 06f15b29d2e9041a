import type { Clock } from './Clock'

export type TransportName = 'websocket' | 'sse' | 'poll'

/** A live client connection, as far as shutdown is concerned. */
export interface TrackedConnection {
  readonly transport: TransportName
  /** The client address, counted against `limits.maxConnectionsPerAddress`. */
  readonly address: string
  /** Tells the client to come back after `retryAfterMs`, then closes. */
  drain(retryAfterMs: number): void
  /** Closes at once, without a goodbye. */
  terminate(): void
}

/** Every open connection of every transport, so shutdown can reach them all. */
export class ConnectionRegistry {
  readonly #connections = new Set<TrackedConnection>()
  // Open connections per address, kept only when a cap is set; bounded by the number of connections.
  readonly #perAddress: Map<string, number> | undefined
  readonly #maxPerAddress: number
  #emptyWaiters: Array<() => void> = []
  #draining: { drainMs: number; random: () => number } | undefined

  constructor(maxPerAddress?: number) {
    this.#maxPerAddress = maxPerAddress ?? Number.POSITIVE_INFINITY
    this.#perAddress = maxPerAddress === undefined ? undefined : new Map()
  }

  /** True when `address` already holds `limits.maxConnectionsPerAddress` open connections. */
  isFull(address: string): boolean {
    return (this.#perAddress?.get(address) ?? 0) >= this.#maxPerAddress
  }

  get size(): number {
    return this.#connections.size
  }

  count(transport: TransportName): number {
    let n = 0
    for (const c of this.#connections) if (c.transport === transport) n++
    return n
  }

  /** Calls `fn` for every open connection of one transport. */
  forEach(transport: TransportName, fn: (connection: TrackedConnection) => void): void {
    for (const c of this.#connections) if (c.transport === transport) fn(c)
  }

  /** Tracks an open connection; call `remove` when it closes. */
  add(connection: TrackedConnection): void {
    if (this.#connections.has(connection)) return
    this.#connections.add(connection)
    const perAddress = this.#perAddress
    if (perAddress) perAddress.set(connection.address, (perAddress.get(connection.address) ?? 0) + 1)
    const draining = this.#draining
    // Accepted before the drain began but set up after it (an upgrade or an auth check in flight):
    // tell it to go as well, once its constructor has finished, or it would hold the shutdown open.
    if (draining) queueMicrotask(() => connection.drain(Math.round(draining.random() * draining.drainMs)))
  }

  /** Forgets a closed connection; safe to call more than once. */
  remove(connection: TrackedConnection): void {
    if (!this.#connections.delete(connection)) return
    const perAddress = this.#perAddress
    if (perAddress) {
      const left = (perAddress.get(connection.address) ?? 1) - 1
      if (left <= 0) perAddress.delete(connection.address)
      else perAddress.set(connection.address, left)
    }
    if (this.#connections.size === 0) {
      const waiters = this.#emptyWaiters
      this.#emptyWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  /**
   * Spreads the reconnects of everyone connected uniformly over `drainMs`, so a restart does not turn
   * into a thundering herd against the next process.
   */
  drainAll(drainMs: number, random: () => number): void {
    this.#draining = { drainMs, random }
    for (const connection of [...this.#connections]) connection.drain(Math.round(random() * drainMs))
  }

  terminateAll(): void {
    for (const connection of [...this.#connections]) connection.terminate()
  }

  /** Resolves true once every connection has closed, false if `timeoutMs` passed first. */
  waitUntilEmpty(timeoutMs: number, clock: Clock): Promise<boolean> {
    if (this.#connections.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const onEmpty = () => {
        clock.clearTimeout(timer)
        resolve(true)
      }
      const timer = clock.setTimeout(() => {
        this.#emptyWaiters = this.#emptyWaiters.filter((w) => w !== onEmpty)
        resolve(false)
      }, timeoutMs)
      this.#emptyWaiters.push(onEmpty)
    })
  }
}
