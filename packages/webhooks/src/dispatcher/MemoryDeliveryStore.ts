import type { ClaimedDelivery, Delivery, DeliveryStore, WebhookEndpoint } from './DeliveryStore'

/**
 * The default store: everything in this process's memory, lost on exit. Fine for tests and for
 * events you can afford to lose; use `RedisDeliveryStore` when an accepted delivery must survive
 * a restart.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  readonly shared = false
  #endpoints = new Map<string, WebhookEndpoint>()
  #deliveries = new Map<string, Delivery>()
  #dueAt = new Map<string, number>()
  #claims = new Map<string, string>()
  #deadAt = new Map<string, number>()
  #claimCounter = 0

  // Copies in and out, so callers cannot mutate stored records (as with a real database).
  async saveEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    this.#endpoints.set(endpoint.id, structuredClone(endpoint))
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | undefined> {
    const endpoint = this.#endpoints.get(id)
    return endpoint && structuredClone(endpoint)
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    return [...this.#endpoints.values()].map((endpoint) => structuredClone(endpoint))
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return this.#endpoints.delete(id)
  }

  async enqueue(deliveries: readonly Delivery[]): Promise<void> {
    for (const delivery of deliveries) {
      this.#deliveries.set(delivery.id, structuredClone(delivery))
      this.#dueAt.set(delivery.id, delivery.nextAttemptAt)
    }
  }

  async claimDue(options: { nowMs: number; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
    const due = [...this.#dueAt].filter(([, at]) => at <= options.nowMs).sort((a, b) => a[1] - b[1])
    const claimed: ClaimedDelivery[] = []
    for (const [id] of due.slice(0, Math.max(0, options.limit))) {
      const delivery = this.#deliveries.get(id)
      if (!delivery) {
        this.#dueAt.delete(id)
        continue
      }
      const token = `claim-${++this.#claimCounter}`
      this.#claims.set(id, token)
      this.#dueAt.set(id, options.nowMs + options.leaseMs)
      claimed.push({ delivery: structuredClone(delivery), token })
    }
    return claimed
  }

  #holds(claim: ClaimedDelivery): boolean {
    return this.#claims.get(claim.delivery.id) === claim.token
  }

  async complete(claim: ClaimedDelivery): Promise<boolean> {
    if (!this.#holds(claim)) return false
    const { id } = claim.delivery
    this.#claims.delete(id)
    this.#dueAt.delete(id)
    this.#deliveries.delete(id)
    return true
  }

  async reschedule(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean> {
    if (!this.#holds(claim)) return false
    this.#claims.delete(delivery.id)
    this.#deliveries.set(delivery.id, structuredClone(delivery))
    this.#dueAt.set(delivery.id, delivery.nextAttemptAt)
    return true
  }

  async deadLetter(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean> {
    if (!this.#holds(claim)) return false
    this.#claims.delete(delivery.id)
    this.#dueAt.delete(delivery.id)
    this.#deliveries.set(delivery.id, structuredClone(delivery))
    this.#deadAt.set(delivery.id, delivery.deadAt ?? 0)
    return true
  }

  async requeueDeadLetter(delivery: Delivery): Promise<boolean> {
    if (!this.#deadAt.delete(delivery.id)) return false
    this.#deliveries.set(delivery.id, structuredClone(delivery))
    this.#dueAt.set(delivery.id, delivery.nextAttemptAt)
    return true
  }

  async getDelivery(id: string): Promise<Delivery | undefined> {
    const delivery = this.#deliveries.get(id)
    return delivery && structuredClone(delivery)
  }

  async listDeadLetters(options: { limit: number; offset: number }): Promise<Delivery[]> {
    return [...this.#deadAt]
      .sort((a, b) => b[1] - a[1])
      .slice(options.offset, options.offset + options.limit)
      .map(([id]) => structuredClone(this.#deliveries.get(id)!))
  }

  async countDeadLetters(): Promise<number> {
    return this.#deadAt.size
  }

  async nextDueAt(): Promise<number | undefined> {
    let earliest: number | undefined
    for (const at of this.#dueAt.values()) if (earliest === undefined || at < earliest) earliest = at
    return earliest
  }
}
