import { Timer, type Timers } from './timers'

export interface HeartbeatOptions {
  /** Send a ping after this long without any frame. Defaults to 20000. */
  intervalMs?: number
  /** Declare the connection dead when nothing arrives this long after a ping. Defaults to 10000. */
  timeoutMs?: number
}

/**
 * Wall-clock liveness. Every decision compares timestamps from `now()` instead of counting timer
 * firings, so a timer that fires late (a throttled background tab, a frozen page) never causes a
 * false timeout: a late timeout re-probes instead of declaring the peer dead.
 */
export class Heartbeat {
  #lastActivityAt = 0
  #pingSentAt: number | undefined
  readonly #timer: Timer

  readonly #options: { intervalMs: number; timeoutMs: number }
  readonly #now: () => number
  readonly #sendPing: () => void
  readonly #onDead: () => void

  constructor(
    options: { intervalMs: number; timeoutMs: number },
    timers: Timers,
    now: () => number,
    sendPing: () => void,
    onDead: () => void,
  ) {
    this.#options = options
    this.#now = now
    this.#sendPing = sendPing
    this.#onDead = onDead
    this.#timer = new Timer(timers)
  }

  start(): void {
    this.#lastActivityAt = this.#now()
    this.#pingSentAt = undefined
    this.#idle()
  }

  stop(): void {
    this.#timer.cancel()
    // A ping sent while stopping still arms `check`; it must then see no ping in flight.
    this.#pingSentAt = undefined
  }

  /** Any frame from the peer proves it alive. Cheap: no timer work on the hot path. */
  activity(): void {
    this.#lastActivityAt = this.#now()
  }

  /** Probe now (for example after the browser's `online` event). */
  probe(): void {
    this.#pingSentAt = this.#now()
    this.#sendPing()
    this.#timer.start(this.#options.timeoutMs, () => this.#check())
  }

  /** Probes once `intervalMs` have passed without any activity. */
  #idle(): void {
    const { intervalMs } = this.#options
    this.#timer.start(this.#lastActivityAt + intervalMs - this.#now(), () =>
      this.#now() - this.#lastActivityAt < intervalMs ? this.#idle() : this.probe(),
    )
  }

  /** The ping's deadline (only `probe` arms it): alive, keep waiting, ask again, or dead. */
  #check(): void {
    const sentAt = this.#pingSentAt ?? 0
    const waited = this.#now() - sentAt
    const { timeoutMs } = this.#options
    if (this.#lastActivityAt >= sentAt) this.#idle()
    else if (waited < timeoutMs) this.#timer.start(timeoutMs - waited, () => this.#check())
    // Fired far later than asked: this page was throttled or frozen, and the pong may be queued
    // behind this timer. Ask again rather than declare a healthy connection dead.
    else if (waited > timeoutMs * 2) this.probe()
    else this.#onDead()
  }
}
