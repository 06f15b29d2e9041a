import { Timer, type Timers } from './timers'

export interface HeartbeatOptions {
  /** Send a ping after this long (ms) without any frame. Defaults to 20000. */
  intervalMs?: number
  /** Declare the connection dead when nothing arrives this long (ms) after a ping. Defaults to 10000. */
  timeoutMs?: number
}

/** Late deadlines (a throttled tab) that get a second ping before a silent peer is declared dead. */
const LATE_REPROBES = 1

/**
 * Wall-clock liveness. Decisions compare timestamps from `now()` instead of counting timer firings, so a
 * deadline that fires late (a throttled background tab, a frozen page) does not kill a healthy socket at
 * once: the pong may be queued behind the timer, so it pings again. But a peer that stays silent through
 * two late deadlines in a row is dead: about two minutes under Chrome's intensive throttling, which fires
 * timers once a minute.
 */
export class Heartbeat {
  #lastActivityAt = 0
  #pingSentAt = 0
  #late = 0
  readonly #timer: Timer
  readonly #options: Required<HeartbeatOptions>
  readonly #now: () => number
  readonly #ping: () => void
  readonly #dead: () => void

  constructor(
    options: Required<HeartbeatOptions>,
    timers: Timers,
    now: () => number,
    ping: () => void,
    dead: () => void,
  ) {
    this.#options = options
    this.#now = now
    this.#ping = ping
    this.#dead = dead
    this.#timer = new Timer(timers)
  }

  start(): void {
    this.#lastActivityAt = this.#now()
    this.#idle()
  }

  stop(): void {
    this.#timer.cancel()
  }

  /** Any frame from the peer proves it alive. Cheap: no timer work on the hot path. */
  activity(): void {
    this.#lastActivityAt = this.#now()
  }

  /** Probes now (the network came back, the page became visible). */
  probe(): void {
    this.#pingSentAt = this.#now()
    this.#ping()
    this.#timer.start(this.#options.timeoutMs, () => this.#check())
  }

  /** Probes once `intervalMs` have passed without any activity. */
  #idle(): void {
    this.#late = 0
    const { intervalMs } = this.#options
    this.#timer.start(this.#lastActivityAt + intervalMs - this.#now(), () =>
      this.#now() - this.#lastActivityAt < intervalMs ? this.#idle() : this.probe(),
    )
  }

  /** The ping's deadline: alive, keep waiting, ask again (fired late), or dead. */
  #check(): void {
    const waited = this.#now() - this.#pingSentAt
    const { timeoutMs } = this.#options
    if (this.#lastActivityAt >= this.#pingSentAt) this.#idle()
    else if (waited < timeoutMs) this.#timer.start(timeoutMs - waited, () => this.#check())
    else if (waited > timeoutMs * 2 && this.#late++ < LATE_REPROBES) this.probe()
    else this.#dead()
  }
}
