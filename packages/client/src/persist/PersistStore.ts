import { type Cursor, compareCursors } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import type { PersistStorage } from './storage'

/** What `persist` keeps, and for how long. */
export interface PersistOptions {
  /** Where to keep it. Defaults to IndexedDB (`indexedDbStorage()`) where it exists; required elsewhere. */
  storage?: PersistStorage
  /** Most channels whose cursor is kept; the one delivered to least recently goes first. Defaults to 1000. */
  maxChannels?: number
  /** Most unacknowledged publishes kept at once; one more is rejected with `queue_full`. Defaults to 100. */
  maxPublishes?: number
  /** Most bytes (JSON) of unacknowledged publishes kept at once; past it, `queue_full`. Defaults to 262144. */
  maxBytes?: number
  /**
   * Cursors not updated for this long (ms) are not resumed from, and are deleted at start, with everything
   * else of this user that old (closed tabs). Defaults to 86400000 (a day). Unacknowledged publishes are
   * sent again only within the client's `queue.ttlMs`, as a live publish would be.
   */
  maxAgeMs?: number
}

/** An unacknowledged publish as kept in storage. */
export interface StoredPublish {
  channel: string
  data: unknown
  key: string
  bytes: number
  /** When the app published it (ms since epoch), and its order among publishes of the same millisecond. */
  at: number
  n: number
}

interface CursorRecord {
  at: number
  cursors: Record<string, [Cursor, number]>
}

const UTF8 = new TextEncoder()

/**
 * One page's cursors and unacknowledged publishes in a `PersistStorage`. Keys are
 * `holdfast|<scope>|<slot>|c` (the cursor map) and `holdfast|<scope>|<slot>|p|<key>` (one per publish): a
 * publish is written once and deleted once, and cursor updates rewrite only the small map. The slot is the
 * tab (from sessionStorage, which a reload keeps), so two tabs never resume from each other's cursors.
 */
export class PersistStore {
  readonly #storage: PersistStorage
  readonly #bounds: Required<Omit<PersistOptions, 'storage'>>
  readonly #now: () => number
  readonly #report: (error: unknown) => void
  #all = ''
  #mine = ''
  readonly #cursors = new Map<string, [Cursor, number]>()
  readonly #publishes = new Map<string, StoredPublish>()
  /** Channels whose stored cursor is still the place to resume: until the server confirms them here. */
  readonly #resumable = new Set<string>()
  readonly #ops = new Set<Promise<void>>()
  #bytes = 0
  #n = 0
  #dirty = false
  #saving: Promise<void> | undefined
  #closed = false

  constructor(
    storage: PersistStorage,
    options: PersistOptions,
    now: () => number,
    report: (error: unknown) => void,
  ) {
    this.#storage = storage
    this.#bounds = {
      maxChannels: 1000,
      maxPublishes: 100,
      maxBytes: 256 * 1024,
      maxAgeMs: 86_400_000,
      ...options,
    }
    this.#now = now
    this.#report = report
  }

  /**
   * Reads this page's record, deletes what is older than `maxAgeMs` (this user's other slots too), and
   * returns the publishes the previous page left unacknowledged, oldest first. Never rejects.
   */
  async load(scope: string | undefined, slot: string): Promise<StoredPublish[]> {
    if (scope === undefined) {
      // Whose data would this be? Keep nothing, read nothing.
      this.#closed = true
      this.#report(
        new HoldfastError(
          'bad_request',
          'persist is off: getToken gave no token with a `sub`, so the user is unknown; pass `user`',
        ),
      )
      return []
    }
    this.#all = `holdfast|${encodeURIComponent(scope)}|`
    this.#mine = `${this.#all}${encodeURIComponent(slot)}|`
    const now = this.#now()
    const { maxAgeMs } = this.#bounds
    try {
      for (const key of await this.#storage.keys()) {
        if (!key.startsWith(this.#all)) continue
        const value = (await this.#storage.get(key)) as (CursorRecord & StoredPublish) | undefined
        if (!(now - (value?.at ?? Number.NaN) < maxAgeMs)) {
          await this.#storage.delete(key)
        } else if (key === `${this.#mine}c`) {
          for (const [channel, entry] of Object.entries(value!.cursors)) {
            if (now - entry[1] >= maxAgeMs) continue
            this.#cursors.set(channel, entry)
            this.#resumable.add(channel)
          }
        } else if (key.startsWith(`${this.#mine}p|`)) {
          this.#publishes.set(value!.key, value!)
          this.#bytes += value!.bytes
          this.#n = Math.max(this.#n, value!.n + 1)
        }
      }
    } catch (error) {
      this.#report(error)
    }
    return [...this.#publishes.values()].sort((a, b) => a.at - b.at || a.n - b.n)
  }

  /** The cursor to resume `channel` from, until the server has confirmed the channel on this page. */
  resumeFrom(channel: string): Cursor | undefined {
    return this.#resumable.has(channel) ? this.#cursors.get(channel)?.[0] : undefined
  }

  /** The server confirmed `channel`: from now on the client's own cursor is the resume point. */
  resumed(channel: string): void {
    this.#resumable.delete(channel)
  }

  /** A message was handed to the app: keep its cursor (newer ones only; another epoch is always newer). */
  delivered(channel: string, cursor: Cursor): void {
    const entry = this.#cursors.get(channel)
    if (this.#closed || (entry && compareCursors(cursor, entry[0]) <= 0)) return
    // Map order is recency: the first entry is the one delivered to least recently.
    this.#cursors.delete(channel)
    this.#cursors.set(channel, [cursor, this.#now()])
    if (this.#cursors.size > this.#bounds.maxChannels)
      this.#cursors.delete(this.#cursors.keys().next().value!)
    this.#save()
  }

  /** Keeps a publish before it is sent; throws `queue_full` past a bound. Resolves once it is written. */
  async add(channel: string, data: unknown, json: string, key: string): Promise<void> {
    if (this.#closed) return
    const bytes = UTF8.encode(json).length
    const { maxPublishes, maxBytes } = this.#bounds
    const limit =
      this.#publishes.size >= maxPublishes
        ? `persist.maxPublishes = ${maxPublishes}`
        : this.#bytes + bytes > maxBytes
          ? `persist.maxBytes = ${maxBytes}`
          : undefined
    if (limit)
      throw new HoldfastError(
        'queue_full',
        `too many unacknowledged publishes to keep across a reload (${limit}); wait for acknowledgements or raise the limit`,
      )
    const stored: StoredPublish = { channel, data, key, bytes, at: this.#now(), n: this.#n++ }
    this.#publishes.set(key, stored)
    this.#bytes += bytes
    await this.#op(() => this.#storage.set(`${this.#mine}p|${key}`, stored))
  }

  /** The publish was acknowledged or rejected (the app was told): it is not sent again after a reload. */
  remove(key: string): void {
    const stored = this.#publishes.get(key)
    if (!stored || this.#closed) return
    this.#publishes.delete(key)
    this.#bytes -= stored.bytes
    void this.#op(() => this.#storage.delete(`${this.#mine}p|${key}`))
  }

  /** Resolves once every write so far has reached storage. */
  async flush(): Promise<void> {
    while (this.#saving || this.#ops.size) await Promise.all([this.#saving, ...this.#ops])
  }

  /** Deletes everything this user kept (every tab's slot) and stops writing. */
  async forget(): Promise<void> {
    this.#closed = true
    await this.flush()
    try {
      for (const key of await this.#storage.keys())
        if (key.startsWith(this.#all)) await this.#storage.delete(key)
    } catch (error) {
      this.#report(error)
    }
  }

  #op(write: () => void | Promise<void>): Promise<void> {
    const done = (async () => {
      try {
        await write()
      } catch (error) {
        // Not kept across a reload, but the publish still goes out: report, do not fail it.
        this.#report(error)
      }
    })()
    this.#ops.add(done)
    void done.then(() => this.#ops.delete(done))
    return done
  }

  /** Writes the cursor map, coalescing a burst of deliveries into one write at a time. */
  #save(): void {
    this.#dirty = true
    this.#saving ??= this.#write()
  }

  async #write(): Promise<void> {
    await null
    try {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false
        await this.#storage.set(`${this.#mine}c`, {
          at: this.#now(),
          cursors: Object.fromEntries(this.#cursors),
        } satisfies CursorRecord)
      }
    } catch (error) {
      this.#report(error)
    } finally {
      this.#saving = undefined
    }
  }
}
