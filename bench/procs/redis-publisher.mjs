// Publishes through a Redis broker of its own, with or without waitForReplicas (and idempotency keys), and
// times it: the cost of making a publish wait until a replica has it (Redis WAIT).
// node procs/redis-publisher.mjs (--redis <url> | --redis-cluster <host:port,…>) --prefix P [--wait-replicas N]
import { redisBroker } from '@holdfast/server'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { redis, 'redis-cluster': redisCluster, prefix, 'wait-replicas': waitReplicas } = argvOptions()
const broker = redisBroker({
  ...(redisCluster ? { cluster: redisCluster.split(',') } : { url: redis }),
  keyPrefix: prefix,
  ...(waitReplicas ? { waitForReplicas: { replicas: Number(waitReplicas), timeoutMs: 1000 } } : {}),
})
await broker.ready(10_000)

serve({
  /**
   * `count` publishes of ~`payloadBytes`, at most `inFlight` at a time, spread over `channels` channels
   * (so a cluster's shards all take part). Resolves with each publish's latency (ms) and the wall time.
   */
  async publish({ count, inFlight = 1, channels = 8, payloadBytes = 100, keys = false }) {
    const pad = 'x'.repeat(Math.max(0, payloadBytes - 20))
    const latencies = []
    let next = 0
    const startAt = nowMs()
    async function worker() {
      while (next < count) {
        const s = next++
        const at = nowMs()
        await broker.publish(
          `wait.${s % channels}`,
          JSON.stringify({ s, p: pad }),
          keys ? { idempotencyKey: `k-${process.pid}-${Date.now()}-${s}` } : {},
        )
        latencies.push(nowMs() - at)
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
    return { latencies, ms: nowMs() - startAt }
  },
  close: () => broker.close(),
})
