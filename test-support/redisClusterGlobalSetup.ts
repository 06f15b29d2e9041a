import type { TestProject } from 'vitest/node'
import { startRedisCluster } from './redisCluster.mjs'

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * `host:port` of every node of the Redis Cluster the cluster tests use, or null when none is available
     * (they are skipped).
     */
    redisClusterNodes: string[] | null
  }
}

/**
 * Next to redisGlobalSetup.ts: starts a throwaway Redis Cluster on loopback (three masters, three replicas,
 * nodes.conf in a temporary directory) for the cluster tests, and stops every node by its PID afterwards.
 * REDIS_CLUSTER_NODES (`host:port,host:port…`) points the tests at an existing cluster instead (every test
 * uses its own key prefix; nothing is flushed). Without redis-server the cluster tests are skipped locally,
 * and fail in CI.
 */
export default async function setup(project: TestProject) {
  if (process.env.REDIS_CLUSTER_NODES) {
    project.provide('redisClusterNodes', process.env.REDIS_CLUSTER_NODES.split(','))
    return
  }
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>
  try {
    cluster = await startRedisCluster({ timeoutMs: 90_000 })
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
    if (process.env.CI)
      throw new Error(
        missing
          ? '[holdfast] redis-server / redis-cli are not installed and CI must run the Redis Cluster tests: sudo apt-get install -y redis-server'
          : `[holdfast] could not start a Redis Cluster: ${(error as Error).message}`,
      )
    console.warn(
      missing
        ? '[holdfast] redis-server / redis-cli not found: the Redis Cluster tests are SKIPPED. Install them with: sudo apt-get install -y redis-server'
        : `[holdfast] could not start a Redis Cluster (${(error as Error).message.split('\n')[0]}): the Redis Cluster tests are SKIPPED`,
    )
    project.provide('redisClusterNodes', null)
    return
  }
  project.provide('redisClusterNodes', cluster.seeds)
  return () => cluster.stop()
}
