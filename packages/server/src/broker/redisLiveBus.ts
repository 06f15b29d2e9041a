import { type Cluster, Redis, type RedisOptions } from 'ioredis'
import { errorFields, type Logger } from '../Logger'
import { hashSlot } from './hashSlot'

/**
 * How a Redis broker hears about new messages: Pub/Sub channels ("names") it listens to, and what happens
 * when listening was interrupted. Presence and any other live traffic can ride on the same bus.
 */
export interface LiveBus {
  /** Listens on `name`; resolves once Redis confirmed the subscription. */
  add(name: string): Promise<void>
  /** Stops listening on `name`. */
  remove(name: string): void
  close(): Promise<void>
}

export interface LiveBusHandlers {
  /** A notification on a name the bus listens to. */
  message(name: string, payload: string): void
  /** Listening on these names was interrupted: what arrives for them is held until they are restored. */
  interrupted(names: string[]): void
  /**
   * These names were interrupted (their connection dropped, or their slot moved) and are listened to
   * again. Notifications for them that arrive meanwhile are held, and delivered once this settles:
   * it repairs and resyncs before anything newer than the interruption is delivered.
   */
  restored(names: string[]): Promise<void>
}

/** Reports connection trouble once per outage, and the way back. */
export function watchConnection(
  connection: Redis | Cluster,
  fields: Record<string, unknown>,
  logger: Logger,
  lastError: { message: string | undefined },
): void {
  let reported = false
  connection.on('error', (error: Error) => {
    lastError.message = error.message
    // Reconnect attempts repeat the same error; say it once per outage.
    if (reported) return
    reported = true
    logger.warn({ ...fields, ...errorFields(error) }, '[holdfast] Redis connection error')
  })
  connection.on('ready', () => {
    if (reported) logger.info(fields, '[holdfast] Redis connection is back')
    reported = false
  })
}

/**
 * Classic Pub/Sub on one Redis: one connection in subscriber mode. It resubscribes by itself
 * (autoResubscribe off), so it knows when every name is listened to again before it restores them.
 */
export function classicLiveBus(
  subscriber: Redis,
  handlers: LiveBusHandlers,
  logger: Logger,
  /** Says where in log lines (the Redis URL without its password). */
  fields: Record<string, unknown> = {},
): LiveBus {
  const names = new Set<string>()
  let closed = false
  let everReady = false
  // While the subscriber is down or resubscribing, notifications wait here: nothing newer than the
  // interruption may be delivered before every name has been restored.
  let interrupted = false
  let interruptions = 0
  let held: Array<[string, string]> = []

  subscriber.on('message', (name: string, payload: string) => {
    if (interrupted) held.push([name, payload])
    else handlers.message(name, payload)
  })
  subscriber.on('close', () => {
    if (!everReady || closed) return
    if (!interrupted) {
      logger.warn(fields, '[holdfast] Redis subscriber disconnected')
      handlers.interrupted([...names])
    }
    interrupted = true
    interruptions++
  })
  subscriber.on('ready', () => {
    if (closed) return
    if (!everReady) {
      everReady = true
      return
    }
    if (interrupted) void recover(interruptions)
  })

  async function recover(attempt: number): Promise<void> {
    try {
      if (names.size > 0) await subscriber.subscribe(...names)
    } catch (error) {
      // The connection failed again; its next 'ready' starts over.
      logger.warn({ ...fields, ...errorFields(error) }, '[holdfast] Redis resubscribe failed')
      return
    }
    if (attempt !== interruptions || closed) return
    try {
      await handlers.restored([...names])
    } catch (error) {
      logger.error(errorFields(error), '[holdfast] restoring live delivery failed')
    }
    // Interrupted again meanwhile: that recovery restores again and releases what waits.
    if (attempt !== interruptions || closed) return
    interrupted = false
    const waiting = held
    held = []
    for (const [name, payload] of waiting) handlers.message(name, payload)
  }

  return {
    async add(name) {
      names.add(name)
      await subscriber.subscribe(name)
    },
    remove(name) {
      names.delete(name)
      if (!closed)
        subscriber
          .unsubscribe(name)
          .catch((error: unknown) => logger.debug(errorFields(error), '[holdfast] Redis unsubscribe failed'))
    },
    async close() {
      closed = true
      names.clear()
      held = []
      if (subscriber.status !== 'ready') subscriber.disconnect()
      else await subscriber.quit().catch(() => subscriber.disconnect())
    },
  }
}

interface NodeLink {
  readonly key: string
  readonly redis: Redis
  /** Names subscribed on this connection. */
  readonly names: Set<string>
  everReady: boolean
}

type EntryState = 'subscribing' | 'live' | 'interrupted' | 'restoring'

interface Entry {
  readonly name: string
  readonly slot: number
  state: EntryState
  link: NodeLink | undefined
  /** Notifications that arrived while interrupted or restoring. */
  held: string[]
}

export interface ShardedLiveBusOptions {
  cluster: Cluster
  /** Options for the per-node subscriber connections (credentials, TLS, timeouts). */
  nodeOptions: RedisOptions
  handlers: LiveBusHandlers
  logger: Logger
  lastError: { message: string | undefined }
  /** How long a new subscription may take, across redirections and failovers. Defaults to 10000. */
  subscribeTimeoutMs?: number
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Sharded Pub/Sub on a Redis Cluster (SSUBSCRIBE, Redis 7): a name lives on the shard that owns its hash
 * slot, and each master the process listens to gets its own subscriber connection. A connection that
 * drops, or a slot that migrates (the node then unsubscribes the name itself), interrupts only the names
 * it carried: they are held, subscribed again wherever their slot now lives, and restored.
 */
export function shardedLiveBus(options: ShardedLiveBusOptions): LiveBus {
  const { cluster, nodeOptions, handlers, logger, lastError } = options
  const subscribeTimeoutMs = options.subscribeTimeoutMs ?? 10_000
  const entries = new Map<string, Entry>()
  const links = new Map<string, NodeLink>()
  let closed = false
  let recovering = false
  let recoverAgain = false

  function linkTo(key: string): NodeLink {
    const existing = links.get(key)
    if (existing) return existing
    const colon = key.lastIndexOf(':')
    const redis = new Redis({
      ...nodeOptions,
      host: key.slice(0, colon),
      port: Number(key.slice(colon + 1)),
      lazyConnect: false,
      autoResubscribe: false,
      // A subscription is only ever sent on a ready connection; a dead node must fail fast, not queue.
      enableOfflineQueue: false,
    })
    const link: NodeLink = { key, redis, names: new Set(), everReady: false }
    watchConnection(redis, { role: 'subscriber', node: key }, logger, lastError)
    redis.on('smessage', (name: string, payload: string) => onMessage(name, payload))
    redis.on('ready', () => {
      link.everReady = true
    })
    redis.on('close', () => {
      if (!closed && link.everReady) interrupt(link, [...link.names], 'the subscriber connection dropped')
    })
    // An unsolicited SUNSUBSCRIBE (the slot moved away) or a MOVED answer to SSUBSCRIBE. Which name it
    // was is not reported, so every name on this connection is subscribed again where its slot now lives.
    redis.on('moved', () => {
      if (!closed) interrupt(link, [...link.names], 'a slot moved')
    })
    links.set(key, link)
    return link
  }

  function onMessage(name: string, payload: string): void {
    const entry = entries.get(name)
    if (!entry) return
    if (entry.state === 'interrupted' || entry.state === 'restoring') entry.held.push(payload)
    else handlers.message(name, payload)
  }

  function interrupt(link: NodeLink, names: string[], why: string): void {
    const affected: string[] = []
    for (const name of names) {
      link.names.delete(name)
      const entry = entries.get(name)
      if (!entry || entry.link !== link || entry.state === 'interrupted') continue
      entry.link = undefined
      entry.state = 'interrupted'
      affected.push(name)
    }
    if (affected.length === 0) return
    logger.warn(
      { node: link.key, channels: affected.length },
      `[holdfast] Redis Cluster live delivery interrupted: ${why}`,
    )
    handlers.interrupted(affected)
    kickRecovery()
  }

  function refreshSlots(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000)
      cluster.refreshSlotsCache(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  function whenReady(redis: Redis, timeoutMs: number): Promise<void> {
    if (redis.status === 'ready') return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.off('ready', onReady)
        reject(new Error(`[holdfast] Redis node not ready within ${timeoutMs} ms`))
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      redis.once('ready', onReady)
    })
  }

  /** Subscribes names of one slot on the node that owns it, following one MOVED. */
  async function subscribeSlot(slot: number, names: string[]): Promise<NodeLink> {
    let key = cluster.slots[slot]?.[0]
    for (let hop = 0; hop < 2; hop++) {
      if (!key) throw new Error(`[holdfast] no Redis Cluster node owns slot ${slot} yet`)
      const link = linkTo(key)
      await whenReady(link.redis, 2000)
      try {
        await link.redis.ssubscribe(...names)
        return link
      } catch (error) {
        const moved = /^MOVED \d+ (\S+)/.exec(String((error as Error)?.message))
        if (!moved) throw error
        key = moved[1]
      }
    }
    throw new Error(`[holdfast] slot ${slot} kept moving`)
  }

  /** Drops connections to nodes that carry nothing and are not connected (failed or removed masters). */
  function pruneLinks(): void {
    for (const [key, link] of links) {
      if (link.names.size > 0 || link.redis.status === 'ready') continue
      if ([...entries.values()].some((e) => e.link === link)) continue
      links.delete(key)
      link.redis.disconnect()
    }
  }

  function kickRecovery(): void {
    if (recovering) {
      recoverAgain = true
      return
    }
    recovering = true
    void recover().finally(() => {
      recovering = false
      if (recoverAgain && !closed) {
        recoverAgain = false
        kickRecovery()
      }
    })
  }

  async function recover(): Promise<void> {
    let delayMs = 50
    while (!closed) {
      const pending = [...entries.values()].filter((e) => e.state === 'interrupted')
      if (pending.length === 0) return
      await refreshSlots()
      const bySlot = new Map<number, Entry[]>()
      for (const entry of pending) bySlot.set(entry.slot, [...(bySlot.get(entry.slot) ?? []), entry])
      const restored: Entry[] = []
      await Promise.all(
        [...bySlot].map(async ([slot, group]) => {
          try {
            const link = await subscribeSlot(
              slot,
              group.map((e) => e.name),
            )
            for (const entry of group) {
              if (entries.get(entry.name) !== entry || entry.state !== 'interrupted') continue
              entry.link = link
              entry.state = 'restoring'
              link.names.add(entry.name)
              restored.push(entry)
            }
          } catch (error) {
            logger.debug(
              { slot, ...errorFields(error) },
              '[holdfast] Redis Cluster resubscribe failed; retrying',
            )
          }
        }),
      )
      if (restored.length > 0) {
        logger.warn(
          { channels: restored.length },
          '[holdfast] Redis Cluster live delivery is back; resyncing',
        )
        try {
          await handlers.restored(restored.map((e) => e.name))
        } catch (error) {
          logger.error(errorFields(error), '[holdfast] restoring live delivery failed')
        }
        for (const entry of restored) {
          // Interrupted again meanwhile: what it holds waits for the next restore.
          if (entry.state !== 'restoring' || entries.get(entry.name) !== entry) continue
          entry.state = 'live'
          const held = entry.held
          entry.held = []
          for (const payload of held) handlers.message(entry.name, payload)
        }
      }
      pruneLinks()
      if (restored.length < pending.length) {
        await sleep(delayMs)
        delayMs = Math.min(delayMs * 2, 1000)
      }
    }
  }

  return {
    async add(name) {
      if (entries.has(name)) throw new Error(`[holdfast] already listening on ${name}`)
      const entry: Entry = { name, slot: hashSlot(name), state: 'subscribing', link: undefined, held: [] }
      entries.set(name, entry)
      const deadline = Date.now() + subscribeTimeoutMs
      let delayMs = 50
      for (;;) {
        try {
          const link = await subscribeSlot(entry.slot, [name])
          if (entries.get(name) !== entry) return
          entry.link = link
          link.names.add(name)
          if (entry.state === 'subscribing') entry.state = 'live'
          return
        } catch (error) {
          if (closed || entries.get(name) !== entry) throw error
          if (Date.now() + delayMs > deadline) {
            entries.delete(name)
            throw error
          }
          await sleep(delayMs)
          delayMs = Math.min(delayMs * 2, 1000)
          await refreshSlots()
        }
      }
    },

    remove(name) {
      const entry = entries.get(name)
      if (!entry) return
      entries.delete(name)
      const link = entry.link
      if (!link) return
      link.names.delete(name)
      if (!closed && link.redis.status === 'ready')
        link.redis
          .sunsubscribe(name)
          .catch((error: unknown) => logger.debug(errorFields(error), '[holdfast] Redis sunsubscribe failed'))
    },

    async close() {
      closed = true
      entries.clear()
      await Promise.all(
        [...links.values()].map(async ({ redis }) => {
          if (redis.status !== 'ready') redis.disconnect()
          else await redis.quit().catch(() => redis.disconnect())
        }),
      )
      links.clear()
    },
  }
}
