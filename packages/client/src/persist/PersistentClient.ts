import { isChannelName } from '@holdfast/protocol'
import {
  type ClientOptions,
  HoldfastClient,
  type PublishOptions,
  type SubscribeOptions,
} from '../core/HoldfastClient'
import type { PublishResult } from '../core/Publisher'
import { systemClock } from '../core/timers'
import type { ClientEvents, Message, Subscription } from '../core/types'
import { HoldfastError } from '../HoldfastError'
import type { TransportFactory, TransportName } from '../transports/Transport'
import { type PersistOptions, PersistStore, type StoredPublish } from './PersistStore'
import { type ScopeOptions, scopeOf } from './scope'
import { indexedDbStorage } from './storage'

/** Options of `createPersistentClient`: the client's, plus what to keep across a reload. */
export interface PersistentClientOptions extends ClientOptions, Pick<ScopeOptions, 'user'> {
  /**
   * Keep each channel's last delivered cursor and the unacknowledged publishes (with their idempotency keys)
   * across a reload or a crash of the page: the next page resumes every channel from where this one was
   * and sends each unacknowledged publish once more (the server stores it once). `true` uses IndexedDB.
   * Scoped to `url` and the user (`user`, or the token's `sub`). Defaults to off.
   */
  persist?: PersistOptions | boolean
}

/** A publish the previous page left unacknowledged, sent again by this one, and how it ended. */
export interface RestoredPublish {
  channel: string
  data: unknown
  key: string
  result?: PublishResult
  error?: HoldfastError
}

/** How `close()` ends the client. */
export interface CloseOptions {
  /**
   * Also delete what `persist` keeps for this user (every tab's cursors and unacknowledged publishes), and
   * keep nothing more: for sign-out. Defaults to false.
   */
  forget?: boolean
}

/**
 * A `HoldfastClient` whose place in every channel and whose unacknowledged publishes survive a reload.
 * Without `persist` it is the plain client. Create it with `createPersistentClient` (or `createSharedClient`).
 */
export class PersistentClient extends HoldfastClient {
  readonly #store: PersistStore | undefined
  readonly #ready: Promise<void> | undefined
  readonly #errors = new Set<(error: HoldfastError) => void>()
  #loaded = false
  /**
   * The publishes the previous page left unacknowledged, sent again once with their keys; resolves when
   * each has been acknowledged or has failed. Empty without `persist`.
   */
  readonly restored: Promise<RestoredPublish[]>

  constructor(options: PersistentClientOptions, factories: Partial<Record<TransportName, TransportFactory>>) {
    super(options, factories)
    const { persist } = options
    const settings = persist === true ? {} : persist || undefined
    const storage =
      settings?.storage ??
      (settings && (globalThis as { indexedDB?: unknown }).indexedDB ? indexedDbStorage() : undefined)
    if (settings && !storage)
      throw new HoldfastError(
        'bad_request',
        'persist needs a storage here (no IndexedDB): pass persist: { storage: memoryStorage() } or your own',
      )
    if (!settings || !storage) {
      this.restored = Promise.resolve([])
      return
    }
    const now = options.now ?? systemClock
    const store = new PersistStore(storage, settings, now, (error) => this.#fail(HoldfastError.from(error)))
    this.#store = store
    const ttlMs = options.queue?.ttlMs ?? 60_000
    let restored: StoredPublish[] = []
    this.#ready = scopeOf(options)
      .then((scope) => store.load(scope, tabSlot()))
      .then((stored) => {
        restored = stored
        this.#loaded = true
      })
    this.restored = this.#ready.then(() =>
      Promise.all(
        restored.map(({ channel, data, key, at }): Promise<RestoredPublish> => {
          const done = (outcome: Partial<RestoredPublish>) => {
            store.remove(key)
            return { channel, data, key, ...outcome }
          }
          if (now() - at >= ttlMs)
            return Promise.resolve(
              done({
                error: new HoldfastError(
                  'timeout',
                  `publish to "${channel}" from the previous page was older than queue.ttlMs (${ttlMs} ms): not sent again`,
                ),
              }),
            )
          return super.publish(channel, data, { key }).then(
            (result) => done({ result }),
            (error: unknown) => done({ error: HoldfastError.from(error) }),
          )
        }),
      ),
    )
  }

  override on<K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void): () => void {
    const off = super.on(event, fn)
    if (event !== 'error') return off
    const own = fn as (error: HoldfastError) => void
    this.#errors.add(own)
    return () => {
      this.#errors.delete(own)
      off()
    }
  }

  override subscribe<TData = unknown>(
    channel: string,
    handler: (message: Message<TData>) => unknown,
    options: SubscribeOptions<TData> = {},
  ): Subscription {
    const store = this.#store
    if (!store) return super.subscribe(channel, handler, options)
    if (!this.#loaded) return this.#later(channel, handler, options)
    return super.subscribe(
      channel,
      (message) => {
        store.delivered(message.channel, message.cursor)
        return handler(message)
      },
      {
        ...options,
        since: options.since ?? store.resumeFrom(channel),
        onSubscribed: (info) => {
          store.resumed(channel)
          options.onSubscribed?.(info)
        },
      },
    )
  }

  override async publish(
    channel: string,
    data: unknown,
    options: PublishOptions = {},
  ): Promise<PublishResult> {
    const store = this.#store
    if (!store) return super.publish(channel, data, options)
    await this.#ready
    const key = options.key ?? globalThis.crypto?.randomUUID?.() ?? `${systemClock()}-${Math.random()}`
    let json: string | undefined
    try {
      json = JSON.stringify(data)
    } catch {}
    // What the client refuses at the call is not kept (it rejects just below).
    if (json !== undefined && isChannelName(channel)) await store.add(channel, data, json, key)
    try {
      return await super.publish(channel, data, { ...options, key })
    } finally {
      store.remove(key)
    }
  }

  /** Resolves once every cursor and publish so far is in storage (before a navigation you control). */
  async flush(): Promise<void> {
    await this.#ready
    await this.#store?.flush()
  }

  /** Closes the client; `{ forget: true }` also deletes what `persist` keeps for this user (sign-out). */
  override close(options: CloseOptions = {}): void {
    super.close()
    const store = this.#store
    if (options.forget && store) void this.#ready!.then(() => store.forget())
  }

  /** A subscription made before storage was read: it starts once the stored cursor is known. */
  #later<TData>(
    channel: string,
    handler: (message: Message<TData>) => unknown,
    options: SubscribeOptions<TData>,
  ): Subscription {
    // Bad arguments throw at the call (the client's own checks), as they do once storage is read.
    if (!isChannelName(channel) || typeof handler !== 'function')
      return super.subscribe(channel, handler, options)
    let inner: Subscription | undefined
    let active = true
    void this.#ready!.then(() => {
      if (active) inner = this.subscribe(channel, handler, options)
    })
    return {
      channel,
      get cursor() {
        return inner?.cursor
      },
      unsubscribe() {
        active = false
        inner?.unsubscribe()
      },
    }
  }

  #fail(error: HoldfastError): void {
    for (const fn of [...this.#errors]) {
      try {
        fn(error)
      } catch {}
    }
  }
}

/** This tab's slot: kept in sessionStorage, which survives a reload and is not shared with other tabs. */
function tabSlot(): string {
  try {
    const session = (globalThis as { sessionStorage?: Storage }).sessionStorage
    if (!session) return 'main'
    let slot = session.getItem('holdfast:slot')
    if (!slot) {
      slot = globalThis.crypto?.randomUUID?.() ?? String(Math.random()).slice(2)
      session.setItem('holdfast:slot', slot)
    }
    return slot
  } catch {
    // Storage blocked (sandboxed frame): one slot for the origin.
    return 'main'
  }
}
