import { CheckFailure, describe } from '../outcome'
import { Waiters } from '../wait'

/**
 * The part of the WHATWG `WebSocket` interface the kit uses. The `ws` package, browsers' WebSocket
 * and msw's interceptor all fit. `terminate` (ws) cuts without a closing handshake; `on('ping')` (ws)
 * exposes protocol pings, which the WHATWG interface hides.
 */
export interface WebSocketLike {
  readonly readyState: number
  readonly protocol: string
  binaryType?: string
  send(data: string | ArrayBufferView | ArrayBuffer): void
  close(code?: number, reason?: string): void
  addEventListener(type: string, listener: (event: any) => void): void
  terminate?(): void
  /** ws: stop reading the socket (so a closing handshake is never answered) until `resume()`. */
  pause?(): void
  resume?(): void
  on?(event: string, listener: (...args: any[]) => void): unknown
}

/** A WebSocket class: `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike

/** Frames as the server sent them, parsed; `raw` keeps text that was not JSON. */
export type ServerFrame = Record<string, any> & { type?: string }

export interface CloseInfo {
  code: number
  reason: string
}

/** A raw socket that records every server frame, and lets a check wait for what it expects. */
export class RawSocket {
  readonly frames: ServerFrame[] = []
  /** Frames that were not JSON objects, as text. */
  readonly unparsed: string[] = []
  closed: CloseInfo | undefined
  error: string | undefined
  opened = false
  pings = 0
  readonly #socket: WebSocketLike
  readonly #waiters = new Waiters()
  readonly #deadlineMs: number

  constructor(
    WebSocket: WebSocketConstructor,
    url: string,
    protocols: string | string[],
    deadlineMs: number,
  ) {
    this.#deadlineMs = deadlineMs
    this.#socket = new WebSocket(url, protocols)
    const socket = this.#socket
    if ('binaryType' in socket) socket.binaryType = 'arraybuffer'
    socket.addEventListener('open', () => {
      this.opened = true
      this.#waiters.notify()
    })
    socket.addEventListener('message', (event: { data: unknown }) => {
      if (typeof event.data !== 'string') {
        this.unparsed.push(`<binary frame>`)
      } else {
        try {
          const value = JSON.parse(event.data) as unknown
          if (typeof value === 'object' && value !== null && !Array.isArray(value))
            this.frames.push(value as ServerFrame)
          else this.unparsed.push(event.data)
        } catch {
          this.unparsed.push(event.data)
        }
      }
      this.#waiters.notify()
    })
    socket.addEventListener('error', (event: { message?: string; error?: Error }) => {
      this.error = event?.message ?? event?.error?.message ?? 'error event'
      this.#waiters.notify()
    })
    socket.addEventListener('close', (event: { code: number; reason: string }) => {
      this.closed = { code: event.code, reason: String(event.reason ?? '') }
      this.#waiters.notify()
    })
    // Node's `ws` reports an error it has no listener for as an uncaught exception.
    if (typeof socket.on === 'function') {
      socket.on('error', () => {})
      socket.on('ping', () => {
        this.pings++
        this.#waiters.notify()
      })
    }
  }

  /** True when the implementation exposes WebSocket protocol pings (the `ws` package does). */
  get seesPings(): boolean {
    return typeof this.#socket.on === 'function'
  }

  get protocol(): string {
    return this.#socket.protocol
  }

  /** Resolves once open; fails the check when the socket closes or errors first. */
  async open(): Promise<void> {
    await this.until(
      () => (this.opened ? true : this.closed || this.error ? false : undefined),
      'the WebSocket to open',
    ).then((ok) => {
      if (!ok)
        throw new CheckFailure(
          'the WebSocket to open',
          this.closed ? `closed ${this.closed.code} ${this.closed.reason}` : `error: ${this.error}`,
        )
    })
  }

  send(frame: object | string | Uint8Array): void {
    if (frame instanceof Uint8Array) this.#socket.send(frame)
    else this.#socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Waits for the first frame after index `from` that matches. */
  frame(match: (frame: ServerFrame) => boolean, expected: string, from = 0): Promise<ServerFrame> {
    return this.until(() => this.frames.slice(from).find(match), expected)
  }

  /** Waits for the close; resolves with its code and reason. */
  waitClose(expected = 'the server to close the socket'): Promise<CloseInfo> {
    return this.until(() => this.closed, expected)
  }

  /** Waits for `probe` to return something; fails with `expected` and what the socket saw. */
  until<T>(probe: () => T | undefined, expected: string, deadlineMs = this.#deadlineMs): Promise<T> {
    return this.#waiters.until(probe, expected, () => this.summary(), deadlineMs)
  }

  /** What the socket saw so far, for failure messages. */
  summary(): string {
    const parts = this.frames.slice(-6).map((f) => describe(f))
    if (this.frames.length > 6) parts.unshift(`(${this.frames.length - 6} earlier frames)`)
    if (this.unparsed.length > 0) parts.push(`non-JSON: ${describe(this.unparsed.slice(-2))}`)
    if (this.closed) parts.push(`close ${this.closed.code} ${JSON.stringify(this.closed.reason)}`)
    else if (this.error) parts.push(`error: ${this.error}`)
    return parts.length > 0 ? parts.join(' | ') : 'no frames'
  }

  /** Stops reading (ws only); false when the implementation cannot. */
  pause(): boolean {
    if (typeof this.#socket.pause !== 'function') return false
    this.#socket.pause()
    return true
  }

  resume(): void {
    this.#socket.resume?.()
  }

  /** Closes politely. */
  close(): void {
    if (this.closed) return
    try {
      this.#socket.close(1000)
    } catch {
      // already closing
    }
  }

  /** Ends the connection abruptly where the implementation allows (ws: terminate), else closes it. */
  cut(): void {
    if (this.closed) return
    if (typeof this.#socket.terminate === 'function') this.#socket.terminate()
    else this.close()
  }
}
