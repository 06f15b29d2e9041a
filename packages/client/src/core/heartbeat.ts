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
  private lastActivityAt = 0
  private pingSentAt: number | undefined
  private readonly timer: Timer

  constructor(
    private readonly options: { intervalMs: number; timeoutMs: number },
    timers: Timers,
    private readonly now: () => number,
    private readonly sendPing: () => void,
    private readonly onDead: () => void,
  ) {
    this.timer = new Timer(timers)
  }

  start(): void {
    this.lastActivityAt = this.now()
    this.pingSentAt = undefined
    this.scheduleIdleCheck()
  }

  stop(): void {
    this.timer.cancel()
    this.pingSentAt = undefined
  }

  /** Any frame from the peer proves it alive. Cheap: no timer work on the hot path. */
  activity(): void {
    this.lastActivityAt = this.now()
  }

  /** Probe now (for example after the browser's `online` event). */
  probe(): void {
    this.ping()
  }

  private scheduleIdleCheck(): void {
    const due = this.lastActivityAt + this.options.intervalMs
    this.timer.start(due - this.now(), () => this.onIdleCheck())
  }

  private onIdleCheck(): void {
    if (this.now() - this.lastActivityAt < this.options.intervalMs) {
      this.scheduleIdleCheck()
      return
    }
    this.ping()
  }

  private ping(): void {
    this.pingSentAt = this.now()
    this.sendPing()
    this.timer.start(this.options.timeoutMs, () => this.onTimeout())
  }

  private onTimeout(): void {
    const sentAt = this.pingSentAt ?? 0
    if (this.lastActivityAt >= sentAt) {
      this.pingSentAt = undefined
      this.scheduleIdleCheck()
      return
    }
    const now = this.now()
    const waited = now - sentAt
    if (waited < this.options.timeoutMs) {
      this.timer.start(this.options.timeoutMs - waited, () => this.onTimeout())
      return
    }
    // Fired far later than asked: this page was throttled or frozen, and the pong may be queued
    // behind this timer. Ask again rather than declare a healthy connection dead.
    if (waited > this.options.timeoutMs * 2) {
      this.ping()
      return
    }
    this.pingSentAt = undefined
    this.onDead()
  }
}
