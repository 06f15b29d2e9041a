import type { Clock, TimerHandle } from '../../src/Clock'

interface Timer {
  at: number
  seq: number
  callback: () => void
}

/** A clock that moves only when told to: expiry, heartbeats and timeouts become deterministic. */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  readonly #timers = new Map<number, Timer>()

  // Starts on a whole second, so JWT times (in seconds) line up exactly with clock arithmetic.
  constructor(start = Math.floor(Date.now() / 1000) * 1000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#now + Math.max(0, delayMs), seq: id, callback })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  /** Timers waiting to fire; tests wait for a timer to exist before moving time past it. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward, firing due timers in order, including ones scheduled while firing. */
  advance(ms: number): void {
    const target = this.#now + ms
    for (;;) {
      let next: [number, Timer] | undefined
      for (const entry of this.#timers) {
        if (entry[1].at > target) continue
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq))
          next = entry
      }
      if (!next) break
      this.#timers.delete(next[0])
      this.#now = Math.max(this.#now, next[1].at)
      next[1].callback()
    }
    this.#now = target
  }
}
