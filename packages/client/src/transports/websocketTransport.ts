import {
  type ClientFrame,
  decodeServerFrame,
  Endpoint,
  encodeFrame,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@holdfast/protocol'
import ReconnectingWebSocket from 'reconnecting-websocket'
import type { PublishResult } from '../core/Publisher'
import { Timer } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import { endpointUrl } from './endpointUrl'
import { NO_CURSOR, type Transport, type TransportHost, type WebSocketConstructor } from './Transport'

export interface WebSocketTransportOptions {
  /** No welcome within this long (ms) counts as a failed attempt. Defaults to 3000. */
  openTimeoutMs?: number
}

/**
 * WebSocket transport on reconnecting-websocket, used through its documented extension points: rws
 * replaces the socket; its URL provider (which may return a promise) waits until the core calls `open()`
 * again, so every delay is the core's. Its own delays are zeroed, its message queue is off (publishes
 * wait in the client's bounded queue), and the provider never rejects (a rejected provider leaves rws
 * unable to connect ever again).
 */
export function websocketTransport(options: WebSocketTransportOptions = {}) {
  return (host: TransportHost): Transport => {
    const openTimeoutMs = options.openTimeoutMs ?? 3000
    const openTimer = new Timer(host.timers)
    /** Requests waiting for their reply, by id; a subscribe remembers its channel. */
    const pending = new Map<number, [(frame: ServerFrame) => void, (error: HoldfastError) => void, string?]>()
    let rws: ReconnectingWebSocket | undefined
    let go: (() => void) | undefined
    /** `open()` was called and the URL provider has not acted on it yet. */
    let wanted = false
    let closed = false
    let welcomed = false
    let token: string | undefined
    let nextId = 1
    let hintMs: number | undefined
    /** Why we close the socket ourselves (no welcome in time). */
    let failure: HoldfastError | undefined
    /** What the socket's error event said, if it fired (browsers say nothing). */
    let errored: string | undefined

    const send = (frame: ClientFrame) => {
      if (rws?.readyState !== 1) return false
      rws.send(encodeFrame(frame))
      return true
    }
    const request = (frame: ClientFrame & { id: number }, channel?: string) =>
      new Promise<ServerFrame>((resolve, reject) => {
        if (welcomed && send(frame)) pending.set(frame.id, [resolve, reject, channel])
        else reject(new HoldfastError('not_connected', 'websocket is not connected'))
      })
    const rejectAll = () => {
      for (const [, reject] of pending.values())
        reject(new HoldfastError('disconnected', 'connection closed'))
      pending.clear()
    }

    /** The URL provider: waits for the core's go-ahead, then for a token; loops instead of rejecting. */
    const nextUrl = async (url: string): Promise<string> => {
      for (;;) {
        if (!wanted && !closed) await new Promise<void>((resolve) => (go = resolve))
        wanted = false
        if (closed) return url
        try {
          token = await host.token()
        } catch (error) {
          host.closed({ opened: false, error: HoldfastError.from(error, 'unauthorized') })
          continue
        }
        if (closed) return url
        welcomed = false
        failure = errored = hintMs = undefined
        openTimer.start(openTimeoutMs, () => {
          failure = new HoldfastError('timeout', `no welcome from the server within ${openTimeoutMs} ms`)
          rws?.reconnect(4004) // CloseCode.HandshakeTimeout
        })
        return url
      }
    }

    const onMessage = (raw: unknown) => {
      if (closed) return
      host.activity()
      const decoded = decodeServerFrame(raw)
      if (!decoded.ok)
        return host.error(new HoldfastError('bad_frame', `invalid frame: ${decoded.error.message}`))
      const frame = decoded.frame
      const id = (frame as { id?: number }).id
      const waiting = id === undefined ? undefined : pending.get(id)
      if (frame.type === 'welcome') {
        openTimer.cancel()
        welcomed = true
        host.opened(frame)
      } else if (frame.type === 'ping') send({ type: 'pong' })
      else if (frame.type === 'reconnect') hintMs = frame.retryAfterMs
      else if (!waiting) {
        if (frame.type !== 'pong') host.frame(frame)
      } else {
        pending.delete(id!)
        if (frame.type === 'error')
          waiting[1](new HoldfastError(frame.code, frame.message, { retryAfterMs: frame.retryAfterMs }))
        else waiting[0](frame)
        // A subscribe's reply concerns its channel; a refused publish or auth, only its own promise.
        if (waiting[2]) host.frame({ ...frame, channel: waiting[2] } as ServerFrame)
      }
    }

    const onClose = (code: number, reason: string) => {
      openTimer.cancel()
      const opened = welcomed
      welcomed = false
      rejectAll()
      if (closed) return
      // rws reports a failed connect (its error event) as a close with code 1000: say what really happened. A
      // refused handshake's status is known in Node (`ws` says "Unexpected server response: 426"), not in browsers.
      const status = Number(/response: (\d+)/.exec(errored ?? '')?.[1])
      host.closed(
        status
          ? { opened, status, reason: '' }
          : failure || errored !== undefined
            ? {
                opened,
                hintMs,
                error:
                  failure ??
                  new HoldfastError(
                    'disconnected',
                    `websocket ${opened ? 'failed' : 'could not connect'}: ${errored || 'browsers give no reason: the server is down, or WebSocket is refused on the way'}`,
                  ),
              }
            : { opened, code, reason, hintMs },
      )
    }

    return {
      name: 'websocket',
      concurrency: Number.POSITIVE_INFINITY,
      open() {
        wanted = true
        if (rws) return go?.()
        let Impl: WebSocketConstructor
        try {
          Impl = withErrorListener(host.webSocket())
        } catch (error) {
          return queueMicrotask(() => host.closed({ opened: false, error: HoldfastError.from(error) }))
        }
        rws = new ReconnectingWebSocket(
          () => nextUrl(endpointUrl(host.url, Endpoint.WebSocket, true)),
          PROTOCOL_VERSION,
          {
            WebSocket: Impl,
            minReconnectionDelay: 0,
            maxReconnectionDelay: 0,
            // Our open timer decides; rws's own is a backstop only.
            connectionTimeout: openTimeoutMs + 5000,
            maxEnqueuedMessages: 0,
          },
        )
        rws.addEventListener('open', () => {
          send(token ? { type: 'connect', token } : { type: 'connect' })
        })
        rws.addEventListener('message', (event) => onMessage(event.data))
        rws.addEventListener('error', (event) => {
          errored = String(event.message ?? '')
        })
        // rws dispatches a failed connect's close before its error event, in one call: report after both.
        rws.addEventListener('close', ({ code, reason }) => queueMicrotask(() => onClose(code, reason)))
      },
      close() {
        closed = true
        openTimer.cancel()
        go?.()
        rws?.close()
        rejectAll()
      },
      subscribe({ channel, since }) {
        // A refusal reaches the core as a channel error frame (onMessage); the promise only tracks the reply.
        request({ type: 'subscribe', id: nextId++, channel, since }, channel).catch(() => {})
      },
      unsubscribe(channel) {
        request({ type: 'unsubscribe', id: nextId++, channel }).catch(() => {})
      },
      async publish({ channel, data, key }): Promise<PublishResult> {
        const frame = await request({ type: 'publish', id: nextId++, channel, data, key })
        if (frame.type !== 'ack' || !frame.cursor) throw new HoldfastError('bad_frame', NO_CURSOR)
        return { cursor: frame.cursor, duplicate: frame.duplicate === true }
      },
      auth(next) {
        token = next
        request({ type: 'auth', id: nextId++, token: next }).catch((error: HoldfastError) => {
          // Refused in place: the core decides (a fresh token on a new connection).
          if (!error.retryable) host.frame({ type: 'error', code: error.code, message: error.message })
        })
      },
      ping: () => void send({ type: 'ping' }),
    }
  }
}

/**
 * Node's `ws` emits an `error` event with no listener attached when rws closes a socket that is still
 * connecting, which would crash the process. A no-op listener keeps it an ordinary close.
 */
function withErrorListener(Impl: WebSocketConstructor): WebSocketConstructor {
  return typeof (Impl.prototype as { on?: unknown })?.on === 'function'
    ? class extends Impl {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols)
          ;(this as unknown as { on?(event: string, fn: () => void): void }).on?.('error', () => {})
        }
      }
    : Impl
}
