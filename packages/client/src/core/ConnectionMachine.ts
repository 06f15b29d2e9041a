import type { WelcomeFrame } from '@holdfast/protocol'
import { HoldfastError } from '../HoldfastError'
import type { Transport, TransportName } from '../transports/Transport'
import { classifyDisconnect, type Decision, type Disconnect } from './classifyDisconnect'
import type { RetryPolicy } from './RetryPolicy'
import { Timer, type Timers } from './timers'
import type { ConnectionState } from './types'

export interface FallbackOptions {
  /** While on a lower transport, try a better one this often (ms, jittered ±50%, doubling after each failed try). Defaults to 30000; 0 turns it off. */
  probeIntervalMs?: number
  /** Consecutive failed connections after which a transport that worked before is left. Defaults to 3. */
  failuresBeforeFallback?: number
}

/** What the machine remembers of one transport: how it failed, why and when. */
interface TransportRecord {
  /** Consecutive failed connections. */
  failures: number
  /** It opened at least once since `start()`. */
  opened: boolean
  /** It is known to fail here (unusable, or abandoned): fallback never steps down onto it. */
  failing?: HoldfastError
  failedAt?: number
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
 * It remembers which transports failed, why and when: fallback never steps down onto a transport known to
 * fail, and moving back up happens make-before-break (the better transport is opened beside the working
 * one and replaces it only once it is up), backing off from a transport each time it fails again.
 */
export class ConnectionMachine {
  #state: ConnectionState = { status: 'closed', transport: undefined, error: undefined }
  #transport: Transport | undefined
  #probe: Transport | undefined
  #records = new Map<TransportName, TransportRecord>()
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
  /** Counts of transport switches, for stats. */
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
    this.#records.clear()
    this.#authFailures = 0
    this.#retry.reset()
    this.#connect(this.#order[0]!)
  }

  /** Stops for good: `error` is the terminal error, or `undefined` after `close()`. */
  stop(error?: HoldfastError): void {
    const wasConnected = this.#state.status === 'connected'
    this.#running = false
    for (const timer of [this.#wait, this.#stable, this.#probeTimer]) timer.cancel()
    this.#wake = undefined
    this.#closeProbe()
    this.#transport?.close()
    this.#transport = undefined
    this.#host.disconnected(undefined, wasConnected)
    this.#set({ status: 'closed', transport: this.#state.transport, error })
  }

  /** The network may be back (online, page visible): skip the rest of a backoff wait. */
  wake(): boolean {
    const wake = this.#wake
    if (wake) wake()
    return !!wake
  }

  /** The client ended the connection (heartbeat, refused token): replace it, then decide like any disconnect. */
  drop(disconnect: Disconnect): void {
    const transport = this.#transport
    if (!transport) return
    transport.close()
    this.#transport = undefined
    this.#onClosed(transport, disconnect)
  }

  opened(transport: Transport, welcome?: Partial<WelcomeFrame>): void {
    if (transport === this.#probe) {
      // Make-before-break: the better transport is up, so it replaces the working one now.
      this.#host.debug(`moving up to ${transport.name}`)
      this.#probe = undefined
      this.#host.disconnected(undefined, true)
      this.#transport?.close()
      this.#transport = transport
      this.switches++
    }
    if (transport !== this.#transport) return
    const record = this.#record(transport.name)
    record.failures = record.probes = 0
    record.opened = true
    record.failing = undefined
    this.#set({ status: 'connected', transport: transport.name, connectedAt: this.#now() })
    this.#stable.start(this.#retry.stableAfterMs, () => {
      this.#retry.reset()
      this.#authFailures = 0
    })
    this.#scheduleProbe()
    this.#host.connected(transport, welcome)
  }

  closed(transport: Transport, disconnect: Disconnect): void {
    if (transport === this.#probe) {
      const record = this.#record(transport.name)
      record.probes++
      record.failing = classifyDisconnect(disconnect).error
      record.failedAt = this.#now()
      this.#host.debug(`${transport.name} is still failing`, record.failing)
      this.#closeProbe()
      this.#scheduleProbe()
    } else if (transport === this.#transport) this.#onClosed(transport, disconnect)
  }

  #onClosed(transport: Transport, disconnect: Disconnect): void {
    const wasConnected = this.#state.status === 'connected'
    this.#stable.cancel()
    this.#closeProbe()
    this.#probeTimer.cancel()
    const decision = classifyDisconnect(disconnect)
    const { error, action } = decision
    this.#host.debug(`${transport.name} closed: ${action}`, error)
    this.#host.disconnected(action === 'stop' ? undefined : error, wasConnected)
    const name = transport.name
    const record = this.#record(name)
    if (action === 'stop') this.stop(error)
    else if (action === 'refresh') {
      // A token rejected twice in a row will not get better by retrying: stop (no auth loop).
      if (++this.#authFailures < 2) {
        this.#host.invalidateToken()
        this.#connect(name)
      } else
        this.stop(
          new HoldfastError(
            'unauthorized',
            `the server refused the token twice in a row (${error.message})`,
            {
              cause: error,
            },
          ),
        )
    } else {
      record.failures++
      // Abandon a transport that cannot work here, one that never opened, or one that failed N times running.
      const abandon =
        action === 'unusable' ||
        (this.#order.length > 1 &&
          (record.opened ? record.failures >= this.#fallback.failuresBeforeFallback : !disconnect.opened))
      if (abandon) this.#fallBack(name, decision)
      else this.#schedule(name, decision)
    }
  }

  /** Steps down to the next transport not known to fail; above it only if nothing below works. */
  #fallBack(name: TransportName, decision: Decision): void {
    const record = this.#record(name)
    record.failing = decision.error
    record.failedAt = this.#now()
    const index = this.#order.indexOf(name)
    const usable = (n: TransportName) => !this.#records.get(n)?.failing
    const next = this.#order.slice(index + 1).find(usable) ?? this.#order.slice(0, index).find(usable)
    if (next) {
      this.#host.debug(`falling back from ${name} to ${next}`, decision.error)
      this.#connect(next)
    } else {
      // Everything failed (the network is down, the server is gone): start over from the best one, backing off.
      this.#records.clear()
      this.#schedule(this.#order[0]!, decision)
    }
  }

  #schedule(name: TransportName, decision: Decision): void {
    const delay = this.#retry.next(decision)
    const nextRetryAt = this.#now() + delay
    this.#set({
      status: 'reconnecting',
      transport: name,
      attempt: this.#retry.attempt,
      nextRetryAt,
      error: decision.error,
    })
    const go = () => {
      this.#wait.cancel()
      this.#wake = undefined
      this.#connect(name)
    }
    this.#wake = go
    this.#wait.start(delay, go)
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
    const current = this.#transport
    const interval = this.#fallback.probeIntervalMs
    if (!current || current.name === this.#order[0] || interval <= 0) return
    // A better transport not known to fail, else the one tried least; waiting longer after each failed try
    // (up to 16x). A probe opens with the real channel set, so a proxy that buffers SSE fails it, not us.
    const better = this.#order.slice(0, this.#order.indexOf(current.name))
    const target =
      better.find((n) => !this.#records.get(n)?.failing) ??
      better.reduce((a, b) => (this.#record(b).probes < this.#record(a).probes ? b : a))
    const delay = interval * 2 ** Math.min(4, this.#record(target).probes) * (0.5 + this.#random())
    this.#probeTimer.start(delay, () => {
      if (this.#transport !== current || this.#state.status !== 'connected') return
      this.#host.debug(`probing ${target}`)
      this.#probe = this.#host.create(target)
      this.#probe.open()
    })
  }

  #closeProbe(): void {
    this.#probe?.close()
    this.#probe = undefined
  }

  #record(name: TransportName): TransportRecord {
    let record = this.#records.get(name)
    if (!record) {
      record = { failures: 0, opened: false, probes: 0 }
      this.#records.set(name, record)
    }
    return record
  }

  #set(state: ConnectionState): void {
    const current = this.#state
    const keys = Object.keys(state) as (keyof ConnectionState)[]
    if (keys.length === Object.keys(current).length && keys.every((k) => current[k] === state[k])) return
    this.#state = state
    this.#host.state(state)
  }
}
