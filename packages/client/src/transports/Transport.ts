import type { Cursor, ServerFrame, WelcomeFrame } from '@holdfast/protocol'
import type { Disconnect } from '../core/classifyDisconnect'
import type { PublishResult } from '../core/Publisher'
import type { Timers } from '../core/timers'
import type { HoldfastError } from '../HoldfastError'

export type TransportName = 'websocket' | 'sse' | 'longpoll'

/**
 * A `WebSocket` class as browsers and `ws` provide it: only what the client uses, so `ws`'s own class
 * (with `@types/ws`) fits as well as the DOM's.
 */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
) => { readonly readyState: number; send(data: string): void; close(code?: number, reason?: string): void }

/** A `fetch` as browsers, Node 18+ and `undici` provide it. */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>

/** One channel to subscribe, with the cursor to resume after. */
export interface SubscriptionRequest {
  channel: string
  since?: Cursor
}

/**
 * What the client core gives a transport. A transport reports what happened (`opened`, frames,
 * `closed` with the facts of a disconnect) and never decides what happens next: the core does.
 */
export interface TransportHost {
  readonly url: string
  readonly timers: Timers
  now(): number
  webSocket(): WebSocketConstructor
  fetch(): FetchFunction
  /** The current token, single-flight and expiry-aware (`fresh`: fetch a new one, after a 401). */
  token(fresh?: boolean): Promise<string | undefined>
  /** Every channel to subscribe, each with where to resume (HTTP transports open with the whole set). */
  subscriptions(): SubscriptionRequest[]
  /** The connection is up: WebSocket welcome, SSE first event, a poll answer. */
  opened(welcome?: Partial<WelcomeFrame>): void
  /** A validated `message`, `subscribed` or `error` frame. */
  frame(frame: ServerFrame): void
  /** Where the server starts a channel's replay, known before its first event (SSE response header). */
  anchor(channel: string, cursor: Cursor): void
  /** Any byte from the server proves the connection alive. */
  activity(): void
  /** The connection ended (or never came up): called once per `open()` unless `close()` came first. */
  closed(disconnect: Disconnect): void
  /** A problem worth reporting that does not end the connection. */
  error(error: HoldfastError): void
  debug(message: string, details?: unknown): void
}

/** The one small contract every transport implements. */
export interface Transport {
  readonly name: TransportName
  /** How many publishes may be on the wire at once (1 keeps HTTP publishes in order). */
  readonly concurrency: number
  /** Starts one connection. After it has reported `closed`, the core may call `open()` again. */
  open(): void
  /** Ends the connection and the transport for good: no more calls into the host. */
  close(): void
  /** Asks for a channel: a `subscribe` frame, or an HTTP transport reopening with the current set. */
  subscribe(request: SubscriptionRequest): void
  unsubscribe(channel: string): void
  /** Publishes once; rejects with a retryable `HoldfastError` if the connection drops first. */
  publish(request: { channel: string; data: unknown; key: string }): Promise<PublishResult>
  /** Swaps the token on the open connection, where the protocol allows it (WebSocket `auth`). */
  auth?(token: string): void
  /** Sends a liveness probe, where the transport has one (WebSocket). */
  ping?(): void
}

export type TransportFactory = (host: TransportHost) => Transport

/** What a transport says when the server acknowledges a publish without its cursor. */
export const NO_CURSOR = 'server answered a publish without a cursor'
