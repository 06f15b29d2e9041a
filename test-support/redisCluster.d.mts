export interface RedisClusterOptions {
  /** Defaults to 3. */
  masters?: number
  /** Defaults to 1. */
  replicasPerMaster?: number
  /** `cluster-node-timeout`: how long a node may be unreachable before failover starts. Defaults to 1000. */
  nodeTimeoutMs?: number
  /** Start-up bound, creation and health included. Defaults to 60000. */
  timeoutMs?: number
  /** Defaults to $REDIS_SERVER_BIN or `redis-server`. */
  redisServer?: string
  /** Defaults to $REDIS_CLI_BIN or `redis-cli`. */
  redisCli?: string
}

export interface RedisCluster {
  /** `127.0.0.1:<port>` of every node, masters and replicas. */
  readonly seeds: string[]
  readonly ports: number[]
  /** The temporary directory holding each node's nodes.conf. */
  readonly dir: string
  readonly redisCli: string
  /** Runs one redis-cli command against a node; resolves with its output, rejects on failure. */
  command(port: number, ...args: Array<string | number>): Promise<string>
  /** `INFO <section>` of one node as an object. */
  info(port: number, section?: string): Promise<Record<string, string>>
  pid(port: number): number | undefined
  /** Sends a signal to one node; resolves once a killed node has exited. */
  signal(port: number, signal: NodeJS.Signals): Promise<void>
  /** Starts a stopped node again on the same ports and nodes.conf: it rejoins the cluster. */
  restart(port: number): Promise<void>
  /** Resolves once every live node says the cluster is ok, all agree on the slot map, and replicas are in sync. */
  waitHealthy(waitMs?: number): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts a Redis Cluster on loopback (three masters with one replica each by default) and resolves once it
 * is healthy. Every node runs on free ports with its nodes.conf in a temporary directory; `stop()` kills
 * them by PID and removes the directory (a watchdog does the same if this process dies first).
 */
export function startRedisCluster(options?: RedisClusterOptions): Promise<RedisCluster>
