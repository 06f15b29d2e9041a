import type { BroadcastChannelConstructor, LockManagerLike } from '../../src/tabs'

/** One fake tab: its BroadcastChannel class and Web Locks, bound to the tab, and what can happen to it. */
export interface FakeTab {
  readonly name: string
  readonly BroadcastChannel: BroadcastChannelConstructor
  readonly locks: LockManagerLike
  /**
   * The page stops running: it receives, sends and requests nothing (all queued) and keeps its locks, until
   * `thaw()`. (Its timers still fire in this process; what they try to do waits like the rest.)
   */
  freeze(): void
  thaw(): void
  /** The page is gone without a word: its locks are released, its channels closed, its queued mail lost. */
  crash(): void
  /** Messages this tab's channels received (not counting queued ones). */
  readonly received: unknown[]
}

interface TabContext {
  name: string
  frozen: boolean
  crashed: boolean
  inbox: Array<() => void>
  outbox: Array<() => void>
}

interface LockRequest {
  ctx: TabContext
  name: string
  callback: (lock: unknown) => unknown
  resolve(value: unknown): void
  reject(error: unknown): void
  settled: boolean
}

const abortError = (message: string) => Object.assign(new Error(message), { name: 'AbortError' })

/**
 * A fake browser for tests of tab sharing: BroadcastChannel (structured clone, delivery to every other channel
 * of the name, in order, one microtask later) and Web Locks (exclusive, queued in order, `signal`, `steal`:
 * the holder's request rejects with an AbortError), shared by tabs that can be frozen or crashed.
 */
export function createFakeBrowser() {
  const channels = new Map<string, Set<{ ctx: TabContext; receive(data: unknown): void }>>()
  const held = new Map<string, LockRequest>()
  const queues = new Map<string, LockRequest[]>()

  const settle = (req: LockRequest, fn: () => void) => {
    if (req.settled) return
    req.settled = true
    fn()
  }

  const next = (name: string) => {
    const queue = queues.get(name) ?? []
    const req = queue.shift()
    if (req) grant(req)
  }

  const grant = (req: LockRequest) => {
    held.set(req.name, req)
    queueMicrotask(async () => {
      let result: unknown
      let error: unknown
      let failed = false
      try {
        result = await req.callback({ name: req.name, mode: 'exclusive' })
      } catch (e) {
        failed = true
        error = e
      }
      if (held.get(req.name) === req) {
        held.delete(req.name)
        next(req.name)
      }
      settle(req, () => (failed ? req.reject(error) : req.resolve(result)))
    })
  }

  function tab(name: string): FakeTab {
    const ctx: TabContext = { name, frozen: false, crashed: false, inbox: [], outbox: [] }
    const received: unknown[] = []

    class FakeBroadcastChannel {
      onmessage: ((event: MessageEvent) => void) | null = null
      #closed = false
      readonly #peer = {
        ctx,
        receive: (data: unknown) => {
          if (ctx.crashed) return
          const run = () => {
            if (this.#closed || ctx.crashed) return
            received.push(data)
            this.onmessage?.({ data } as MessageEvent)
          }
          if (ctx.frozen) ctx.inbox.push(run)
          else queueMicrotask(run)
        },
      }
      constructor(readonly channelName: string) {
        const set = channels.get(channelName) ?? new Set()
        channels.set(channelName, set)
        set.add(this.#peer)
      }
      postMessage(data: unknown): void {
        if (this.#closed || ctx.crashed) return
        const copy = structuredClone(data)
        const send = () => {
          for (const peer of channels.get(this.channelName) ?? []) if (peer !== this.#peer) peer.receive(copy)
        }
        if (ctx.frozen) ctx.outbox.push(send)
        else send()
      }
      close(): void {
        this.#closed = true
        channels.get(this.channelName)?.delete(this.#peer)
      }
    }

    const locks: LockManagerLike = {
      request(lockName, options, callback) {
        return new Promise((resolve, reject) => {
          if (ctx.crashed) return
          // A frozen page runs nothing: what it asks for happens when it thaws.
          if (ctx.frozen)
            return ctx.outbox.push(
              () => void locks.request(lockName, options, callback).then(resolve, reject),
            )
          const req: LockRequest = { ctx, name: lockName, callback, resolve, reject, settled: false }
          const { signal } = options
          if (signal?.aborted) return reject(abortError('aborted'))
          if (options.steal) {
            const holder = held.get(lockName)
            if (holder) {
              held.delete(lockName)
              settle(holder, () => holder.reject(abortError('the lock was stolen')))
            }
            return grant(req)
          }
          const queue = queues.get(lockName) ?? []
          queues.set(lockName, queue)
          if (!held.has(lockName) && queue.length === 0) return grant(req)
          queue.push(req)
          signal?.addEventListener('abort', () => {
            const i = queue.indexOf(req)
            if (i < 0) return
            queue.splice(i, 1)
            settle(req, () => reject(abortError('aborted')))
          })
        })
      },
    }

    return {
      name,
      BroadcastChannel: FakeBroadcastChannel as unknown as BroadcastChannelConstructor,
      locks,
      received,
      freeze() {
        ctx.frozen = true
      },
      thaw() {
        ctx.frozen = false
        for (const run of ctx.outbox.splice(0)) run()
        for (const run of ctx.inbox.splice(0)) queueMicrotask(run)
      },
      crash() {
        ctx.crashed = true
        ctx.inbox = []
        ctx.outbox = []
        for (const set of channels.values())
          for (const peer of [...set]) if (peer.ctx === ctx) set.delete(peer)
        for (const [lockName, req] of [...held]) {
          if (req.ctx !== ctx) continue
          held.delete(lockName)
          req.settled = true
          next(lockName)
        }
        for (const queue of queues.values())
          for (const req of [...queue]) if (req.ctx === ctx) queue.splice(queue.indexOf(req), 1)
      },
    }
  }

  return {
    tab,
    /** Who holds a lock (the tab's name), for assertions. */
    holder: (lockName: string) => held.get(lockName)?.ctx.name,
    /** Names of the locks held now. */
    heldLocks: () => [...held.keys()],
  }
}
