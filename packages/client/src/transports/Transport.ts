import type { Cursor, ServerFrame, WelcomeFrame } from '@holdfast/protocol'
import type { PublishResult } from '../core/publishQueue'
import type { Timers } from '../core/timers'
import type { HoldfastError } from '../HoldfastError'

export type TransportName = 'websocket' | 'sse' | 'longpoll'

/** A `WebSocket` constructor as browsers and `ws` provide it. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>

export interface SubscriptionRequest {
  channel: string
  since?: Cursor
}

/** Why a connection ended, as a transport saw it. */
export interface DisconnectInfo {
  /** Whether the connection got as far as the server's welcome (or first successful response). */
  opened: boolean
  /** `reconnect` with backoff, `refresh` the token and reconnect at once, or `stop`. */
  action: 'reconnect' | 'refresh' | 'stop'
  code?: number
  reason?: string
  /** Server-requested minimum delay. */
  retryAfterMs?: number
  error?: HoldfastError
}

/** What the client core gives a transport. Everything time- or network-related is injected. */
export interface TransportContext {
  readonly baseUrl: string
  readonly timers: Timers
  now(): number
  random(): number
  webSocket(): WebSocketConstructor
  fetch(): FetchFunction
  /** Single-flight, expiry-aware. Rejects with a `HoldfastError` when `getToken` fails. */
  getToken(): Promise<string | undefined>
  /** Fetches a new token now (after a 401), single-flight. */
  refreshToken?(): Promise<string | undefined>
  /** Channels to (re)subscribe, each with the cursor to resume from. */
  subscriptions(): SubscriptionRequest[]
  /** Call before every connection attempt; resolves `false` when this transport must stop. */
  waitToConnect(): Promise<boolean>
  /** The connection is up (WebSocket: welcome received; HTTP: first good response). */
  opened(welcome?: Partial<WelcomeFrame>): void
  /** Any server frame (message, subscribed, error, …), already validated. */
  frame(frame: ServerFrame): void
  /** Any byte from the server proves the connection alive. */
  activity(): void
  closed(info: DisconnectInfo): void
  /** A problem worth reporting that does not end the connection. */
  error(error: HoldfastError): void
  debug(message: string, details?: unknown): void
}

/** The one small contract every transport implements. */
export interface Transport {
  readonly name: TransportName
  /** Start connecting; the transport reconnects by itself, asking `waitToConnect` before each attempt. */
  start(): void
  /** Stop for good; no more calls into the context. */
  stop(): void
  /** The set of channels (or a resume cursor) changed. */
  syncSubscriptions(): void
  /** Publish once; rejects with a retryable `HoldfastError` if the connection drops first. */
  publish(request: { channel: string; data: unknown; key: string }): Promise<PublishResult>
  /** How many publishes may be on the wire at once (1 keeps HTTP publishes in order). */
  readonly publishConcurrency: number
  /** Drop the current connection and reconnect through `waitToConnect`. */
  reconnect(code?: number, reason?: string): void
  /** Swap the token in place if the transport can; otherwise reconnect with it. */
  refreshToken(token: string): void
  /** Send a liveness probe, if the transport has a way to (WebSocket). */
  ping?(): void
}

export type TransportFactory = (ctx: TransportContext) => Transport
