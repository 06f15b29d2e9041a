import type { WelcomeFrame } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import type { Transport, TransportName } from '../transports/Transport'
import { classifyDisconnect, type Decision, type Disconnect } from './classifyDisconnect'
import type { RetryPolicy } from './RetryPolicy'
import { Timer, type Timers } from './timers'
import type { ConnectionState } from './types'

export interface FallbackOptions {
  /**
   * While on a lower transport, try a better one this often (ms, jittered ±50%, doubling after each failed
   * try, up to 16x). Defaults to 30000; 0 turns it off.
   */
  probeIntervalMs?: number
  /** Consecutive failed connections after which a transport that worked before is left. Defaults to 3. */
  failuresBeforeFallback?: number
}

/** What the machine remembers of one transport: how it failed, and why. */
interface TransportRecord {
  /** Consecutive failed connections. */
  failures: number
  /** It opened at least once since `start()`. */
  opened?: boolean
  /** Why it is known to fail here (unusable, or abandoned): fallback never steps down onto it. */
  failing?: HoldfastError
  /** Failed tries to move back up to it, for the probe backoff. */
  probes: number
}

/** What the machine asks of the client. */
export interface MachineHost {
  /** A new transport instance. Until it carries the connection (a probe), its channel requests do not count. */
  create(name: TransportName): Transport
  /** A transport is up: resubscribe, flush publishes, start the heartbeat. */
  connected(transport: Transport, welcome: Partial<WelcomeFrame> | undefined): void
  /** The connection (or an attempt, `wasConnected` false) is gone: stop the heartbeat, mark publishes unsent. */
  disconnected(error: HoldfastError | undefined, wasConnected: boolean): void
  /** The server refused the token: drop it, so the next attempt fetches a new one. */
  invalidateToken(): void
  state(state: ConnectionState): void
  debug(message: string, details?: unknown): void
}

/**
 * The one connection state machine. Transports report (`opened`, `closed`); the disconnect classifier says
 * what a disconnect means; the machine alone decides what happens next:
 *
 *   closed ──start──▶ connecting ──opened──▶ connected ──probe opened──▶ connected (better transport)
 *                        ▲   │ closed              │ closed
 *                        │   ▼                     ▼
 *                        └─ reconnecting ◀── retry │ refresh: new token, at once │ unusable: fall back │ stop ──▶ closed
 *
 * It remembers which transports failed and why: fallback never steps down onto a transport known to fail,
 * and moving back up is make-before-break (the better transport opens beside the working one and replaces
 * it once it is up), backing off from a transport each time it fails again.
 */
export class ConnectionMachine {
  #state: ConnectionState = { status: 'closed', transport: undefined, error: undefined }
  #transport: Transport | undefined
  #probe: Transport | undefined
  #records = {} as Record<TransportName, TransportRecord>
  #running = false
  #authFailures = 0
  #wake: (() => void) | undefined
  readonly #wait: Timer
  readonly #stable: Timer
  readonly #probeTimer: Timer
  readonly #order: TransportName[]
  readonly #retry: RetryPolicy
  readonly #host: MachineHost
  readonly #now: () => number
  readonly #random: () => number
  readonly #fallback: Required<FallbackOptions>
  /** Moves from one transport to another (fallback, moving up), for stats. */
  switches = 0

  constructor(
    order: TransportName[],
    retry: RetryPolicy,
    fallback: FallbackOptions,
    timers: Timers,
    now: () => number,
    random: () => number,
    host: MachineHost,
  ) {
    this.#order = order
    this.#retry = retry
    this.#fallback = { probeIntervalMs: 30_000, failuresBeforeFallback: 3, ...fallback }
    this.#now = now
    this.#random = random
    this.#host = host
    this.#wait = new Timer(timers)
    this.#stable = new Timer(timers)
    this.#probeTimer = new Timer(timers)
  }

  get state(): ConnectionState {
    return this.#state
  }

  get running(): boolean {
    return this.#running
  }

  /** The transport carrying the connection (connected or connecting), if any. */
  get transport(): Transport | undefined {
    return this.#transport
  }

  /** Starts connecting with the best transport, forgetting what failed before. */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#forget()
    this.#authFailures = 0
    this.#retry.reset()
    this.#connect(this.#order[0]!)
  }

  /** Stops for good: `error` is the terminal error, or `undefined` after `close()`. */
  stop(error?: HoldfastError): void {
    this.#running = false
    this.#wake = undefined
    this.#wait.cancel()
    this.#end(true)
    this.#set({ status: 'closed', transport: this.#state.transport, error })
  }

  /** The network may be back (online, page visible): skip the rest of a backoff wait. */
  wake(): boolean {
    this.#wake?.()
    return !!this.#wake
  }

  /** The client ended the connection (heartbeat, refused token): replace it, then decide like any disconnect. */
  drop(disconnect: Disconnect): void {
    const transport = this.#transport
    if (!transport) return
    // Its connection is gone for good: the next attempt gets a new instance.
    transport.close()
    this.#transport = undefined
    this.#closed(transport, disconnect)
  }

  opened(transport: Transport, welcome?: Partial<WelcomeFrame>): void {
    if (transport === this.#probe) {
      // Make-before-break: the better transport is up, so it replaces the working one now.
      this.#probe = undefined
      this.#end(true)
      this.#transport = transport
      this.switches++
    }
    if (transport !== this.#transport) return
    this.#records[transport.name] = { failures: 0, probes: 0, opened: true }
    this.#set({ status: 'connected', transport: transport.name, connectedAt: this.#now() })
    this.#stable.start(this.#retry.stableAfterMs, () => {
      this.#retry.reset()
      this.#authFailures = 0
    })
    this.#scheduleProbe()
    this.#host.connected(transport, welcome)
  }

  closed(transport: Transport, disconnect: Disconnect): void {
    if (transport === this.#transport) this.#closed(transport, disconnect)
    else if (transport === this.#probe) {
      const record = this.#records[transport.name]
      record.probes++
      record.failing = classifyDisconnect(disconnect).error
      this.#probe = undefined
      transport.close()
      this.#scheduleProbe()
    }
  }

  #forget(): void {
    for (const name of this.#order) this.#records[name] = { failures: 0, probes: 0 }
  }

  /** Ends the probe (and the connection too, with `all`), and tells the client the connection is gone. */
  #end(all?: boolean, error?: HoldfastError): void {
    const wasConnected = this.#state.status === 'connected'
    this.#stable.cancel()
    this.#probeTimer.cancel()
    this.#probe?.close()
    this.#probe = undefined
    if (all) {
      this.#transport?.close()
      this.#transport = undefined
    }
    this.#host.disconnected(error, wasConnected)
  }

  #closed(transport: Transport, disconnect: Disconnect): void {
    const decision = classifyDisconnect(disconnect)
    const { error, action } = decision
    const name = transport.name
    const record = this.#records[name]
    const unstable = this.#stable.pending
    this.#host.debug(`${name} closed: ${action}`, error)
    this.#end(false, action === 'stop' ? undefined : error)
    if (action === 'stop') this.stop(error)
    else if (action === 'refresh') {
      // A token the server accepted and that has since expired is refreshed, however often: at once, or after
      // a backoff when the connection was not yet stable (no tight loop with a server that expires every
      // token at once). One refused twice in a row will not get better by retrying: stop (no auth loop).
      // getToken() failing (`disconnect.error`: it threw, gave no string) counts the same, after a backoff.
      const expired = disconnect.opened && error.code === 'token_expired'
      const failed = disconnect.error
      if (expired) this.#authFailures = 0
      if (expired || ++this.#authFailures < 2) {
        this.#host.invalidateToken()
        if ((expired && unstable) || failed) this.#schedule(name, decision)
        else this.#connect(name)
      } else
        this.stop(
          new HoldfastError('unauthorized', `no usable token twice in a row (${error.message})`, {
            cause: error,
          }),
        )
    } else if (
      // Abandon a transport that cannot work here, one that never opened, or one that failed N times running.
      action === 'unusable' ||
      (this.#order[1] &&
        (record.opened ? ++record.failures >= this.#fallback.failuresBeforeFallback : !disconnect.opened))
    ) {
      record.failing = error
      // Step down to the next transport not known to fail; above it only if nothing below works.
      const i = this.#order.indexOf(name)
      const next = [...this.#order.slice(i + 1), ...this.#order.slice(0, i)].find(
        (n) => !this.#records[n].failing,
      )
      if (next) this.#connect(next)
      else {
        // Everything failed (the network is down, the server is gone): start over from the best one, backing off.
        this.#forget()
        this.#schedule(this.#order[0]!, decision)
      }
    } else this.#schedule(name, decision)
  }

  #schedule(name: TransportName, decision: Decision): void {
    const delay = this.#retry.next(decision)
    this.#set({
      status: 'reconnecting',
      transport: name,
      attempt: this.#retry.attempt,
      nextRetryAt: this.#now() + delay,
      error: decision.error,
    })
    this.#wake = () => {
      this.#wake = undefined
      this.#wait.cancel()
      this.#connect(name)
    }
    this.#wait.start(delay, this.#wake)
  }

  #connect(name: TransportName): void {
    if (!this.#running) return
    let transport = this.#transport
    if (transport?.name !== name) {
      if (transport) {
        transport.close()
        this.switches++
      }
      this.#transport = transport = this.#host.create(name)
    }
    this.#set({ status: 'connecting', transport: name, attempt: this.#retry.attempt })
    transport.open()
  }

  #scheduleProbe(): void {
    const better = this.#order.slice(0, this.#order.indexOf(this.#transport!.name))
    const interval = this.#fallback.probeIntervalMs
    if (!better[0] || interval <= 0) return
    // The better transport tried least (the best on a tie), waiting longer after each failed try. A probe
    // opens with the real channel set, so a proxy that buffers SSE fails the probe, not the client.
    const target = better.reduce((a, b) => (this.#records[b].probes < this.#records[a].probes ? b : a))
    this.#probeTimer.start(
      interval * 2 ** Math.min(4, this.#records[target].probes) * (0.5 + this.#random()),
      () => {
        this.#probe = this.#host.create(target)
        this.#probe.open()
      },
    )
  }

  #set(state: ConnectionState): void {
    this.#state = state
    this.#host.state(state)
  }
}
