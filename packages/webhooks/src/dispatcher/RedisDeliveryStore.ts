import type { Redis } from 'ioredis'
import type { ClaimedDelivery, Delivery, DeliveryStore, WebhookEndpoint } from './DeliveryStore'

export interface RedisDeliveryStoreOptions {
  /** An ioredis client. The store never closes it; `quit()` it yourself on shutdown. */
  redis: Redis
  /**
   * Prefix of every key. Defaults to `holdfast:webhooks`. It is wrapped in `{…}` so all keys share
   * one Redis Cluster hash slot, which the multi-key Lua scripts need.
   */
  keyPrefix?: string
}

// Each script checks the claim token before touching anything, so a dispatcher whose lease expired
// (and whose delivery another process took over) cannot settle it a second time.
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[3], id)
  if record then
    local token = ARGV[4] .. ':' .. i
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    redis.call('HSET', KEYS[2], id, token)
    out[#out + 1] = token
    out[#out + 1] = record
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
return out`

const COMPLETE = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1`

const RESCHEDULE = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`

const DEAD_LETTER = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return 1`

const REQUEUE = `
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1`

/**
 * Durable store on Redis (ioredis). Layout under `{keyPrefix}`: `:endpoints` and `:deliveries`
 * (hashes of JSON records), `:queue` (sorted set of pending delivery ids by due time in ms),
 * `:claims` (claim tokens) and `:dlq` (sorted set of dead delivery ids by death time).
 *
 * `send` resolves only after the delivery is in Redis, and a claim is a lease rather than a removal,
 * so a delivery survives a dispatcher crash at any point. Claims run in one Lua script, so two
 * dispatchers never take the same attempt. Surviving a Redis restart needs Redis persistence
 * (`appendonly yes`).
 */
export class RedisDeliveryStore implements DeliveryStore {
  readonly shared = true
  readonly #redis: Redis
  readonly #keys: { endpoints: string; deliveries: string; queue: string; claims: string; dlq: string }

  constructor(options: RedisDeliveryStoreOptions) {
    this.#redis = options.redis
    const base = `{${options.keyPrefix ?? 'holdfast:webhooks'}}`
    this.#keys = {
      endpoints: `${base}:endpoints`,
      deliveries: `${base}:deliveries`,
      queue: `${base}:queue`,
      claims: `${base}:claims`,
      dlq: `${base}:dlq`,
    }
  }

  async saveEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    await this.#redis.hset(this.#keys.endpoints, endpoint.id, JSON.stringify(endpoint))
  }

  async getEndpoint(id: string): Promise<WebhookEndpoint | undefined> {
    const json = await this.#redis.hget(this.#keys.endpoints, id)
    return json === null ? undefined : (JSON.parse(json) as WebhookEndpoint)
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const all = await this.#redis.hgetall(this.#keys.endpoints)
    return Object.values(all).map((json) => JSON.parse(json) as WebhookEndpoint)
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return (await this.#redis.hdel(this.#keys.endpoints, id)) > 0
  }

  async enqueue(deliveries: readonly Delivery[]): Promise<void> {
    if (deliveries.length === 0) return
    const transaction = this.#redis.multi()
    for (const delivery of deliveries) {
      transaction.hset(this.#keys.deliveries, delivery.id, JSON.stringify(delivery))
      transaction.zadd(this.#keys.queue, delivery.nextAttemptAt, delivery.id)
    }
    const results = await transaction.exec()
    const failed = results?.find(([error]) => error)
    if (!results || failed) throw failed?.[0] ?? new Error('[holdfast] Redis transaction was aborted')
  }

  async claimDue(options: { nowMs: number; limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
    if (options.limit <= 0) return []
    const { queue, claims, deliveries } = this.#keys
    const reply = (await this.#redis.eval(
      CLAIM,
      3,
      queue,
      claims,
      deliveries,
      options.nowMs,
      options.nowMs + options.leaseMs,
      options.limit,
      globalThis.crypto.randomUUID(),
    )) as string[]
    const claimed: ClaimedDelivery[] = []
    for (let i = 0; i < reply.length; i += 2) {
      claimed.push({ token: reply[i]!, delivery: JSON.parse(reply[i + 1]!) as Delivery })
    }
    return claimed
  }

  async complete(claim: ClaimedDelivery): Promise<boolean> {
    const { queue, claims, deliveries } = this.#keys
    return (
      (await this.#redis.eval(COMPLETE, 3, queue, claims, deliveries, claim.delivery.id, claim.token)) === 1
    )
  }

  async reschedule(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean> {
    const { queue, claims, deliveries } = this.#keys
    const reply = await this.#redis.eval(
      RESCHEDULE,
      3,
      queue,
      claims,
      deliveries,
      delivery.id,
      claim.token,
      JSON.stringify(delivery),
      delivery.nextAttemptAt,
    )
    return reply === 1
  }

  async deadLetter(claim: ClaimedDelivery, delivery: Delivery): Promise<boolean> {
    const { queue, claims, deliveries, dlq } = this.#keys
    const reply = await this.#redis.eval(
      DEAD_LETTER,
      4,
      queue,
      claims,
      deliveries,
      dlq,
      delivery.id,
      claim.token,
      JSON.stringify(delivery),
      delivery.deadAt ?? 0,
    )
    return reply === 1
  }

  async requeueDeadLetter(delivery: Delivery): Promise<boolean> {
    const { queue, deliveries, dlq } = this.#keys
    const reply = await this.#redis.eval(
      REQUEUE,
      3,
      queue,
      deliveries,
      dlq,
      delivery.id,
      JSON.stringify(delivery),
      delivery.nextAttemptAt,
    )
    return reply === 1
  }

  async getDelivery(id: string): Promise<Delivery | undefined> {
    const json = await this.#redis.hget(this.#keys.deliveries, id)
    return json === null ? undefined : (JSON.parse(json) as Delivery)
  }

  async listDeadLetters(options: { limit: number; offset: number }): Promise<Delivery[]> {
    if (options.limit <= 0) return []
    const ids = await this.#redis.zrevrange(
      this.#keys.dlq,
      options.offset,
      options.offset + options.limit - 1,
    )
    if (ids.length === 0) return []
    const records = await this.#redis.hmget(this.#keys.deliveries, ...ids)
    return records.filter((json): json is string => json !== null).map((json) => JSON.parse(json) as Delivery)
  }

  async countDeadLetters(): Promise<number> {
    return this.#redis.zcard(this.#keys.dlq)
  }

  async nextDueAt(): Promise<number | undefined> {
    const [, score] = await this.#redis.zrange(this.#keys.queue, '0', '0', 'WITHSCORES')
    return score === undefined ? undefined : Number(score)
  }
}
