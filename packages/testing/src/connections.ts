import type { ClientFrame } from '@holdfast/protocol'

/** The transports a Holdfast client can use, as the mock names them. */
export type MockTransport = 'websocket' | 'sse' | 'longpoll'

/** One client connection the mock has served. Long polling counts each poll request as one (open while held). */
export interface MockConnection {
  /** 1 for the first connection after `createHoldfastMock` or `reset()`, then counting up. */
  readonly id: number
  readonly transport: MockTransport
  /** The token the client presented last (`connect`/`auth` frame or `Authorization: Bearer`). */
  readonly token: string | undefined
  /** Channels this connection currently receives. */
  readonly channels: readonly string[]
  /** False once the connection was closed by either side (or the poll was answered). */
  readonly open: boolean
  /** WebSocket only: every valid frame the client sent, decoded, in order. Empty for HTTP transports. */
  readonly frames: readonly ClientFrame[]
}

/** Why the mock ends a connection. */
export type EndReason =
  | { kind: 'drop'; code: number | undefined; reason: string | undefined }
  | { kind: 'refuse' }
  | { kind: 'expire'; graceMs: number }
  | { kind: 'reset' }
  | { kind: 'drain'; retryAfterMs: number }

/** The mock's own view of a connection: the public fields plus how to end it. */
export class ConnectionRecord implements MockConnection {
  token: string | undefined
  open = true
  readonly frames: ClientFrame[] = []
  private readonly channelSet = new Set<string>()
  /** Set by the transport that owns this connection. */
  end: (reason: EndReason) => void = () => {}
  private readonly onCloseFns: (() => void)[] = []

  constructor(
    readonly id: number,
    readonly transport: MockTransport,
    token: string | undefined,
  ) {
    this.token = token
  }

  get channels(): readonly string[] {
    return [...this.channelSet]
  }

  addChannel(channel: string): void {
    this.channelSet.add(channel)
  }

  removeChannel(channel: string): void {
    this.channelSet.delete(channel)
  }

  /** Runs `fn` when the connection closes (at once if it already has). */
  onClose(fn: () => void): void {
    if (this.open) this.onCloseFns.push(fn)
    else fn()
  }

  markClosed(): void {
    if (!this.open) return
    this.open = false
    this.channelSet.clear()
    for (const fn of this.onCloseFns.splice(0)) fn()
  }
}

/**
 * Delivers a connection's outgoing data in order, each item `latencyMs()` after it was queued.
 * With no latency and nothing queued it delivers synchronously, so tests without `setDelay` see
 * frames at once.
 */
export class Outbox {
  private tail: Promise<void> = Promise.resolve()
  private queued = 0
  private closed = false

  constructor(
    private readonly latencyMs: () => number,
    private readonly now: () => number,
  ) {}

  push(deliver: () => void): void {
    if (this.closed) return
    const ms = this.latencyMs()
    if (ms <= 0 && this.queued === 0) {
      deliver()
      return
    }
    const due = this.now() + Math.max(0, ms)
    this.queued++
    this.tail = this.tail
      .then(() => sleep(due - this.now()))
      .then(() => {
        this.queued--
        if (!this.closed) deliver()
      })
  }

  close(): void {
    this.closed = true
  }
}

/** A promise that resolves after `ms` (at once for 0 or less); reads `setTimeout` at call time. */
export function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve) => globalThis.setTimeout(resolve, ms))
}
