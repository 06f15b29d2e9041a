import { isChannelName } from '@holdfast/protocol'
import { type PresenceMember, parsePresenceChannel } from '@holdfast/protocol/presence'
import type { RequestHandler, WebSocketHandler } from 'msw'
import { ChannelLog, type StoredMessage } from './ChannelLog'
import type { MockConnection, MockTransport } from './connections'
import { healthHandler, plainWebSocketGetHandler, publishHandler } from './httpHandlers'
import { MockContext, type MockPublish } from './MockContext'
import { MockPresence } from './MockPresence'
import { pollHandler } from './pollHandler'
import { sseHandler } from './sseHandler'
import { websocketHandler } from './websocketHandler'

/** Options of `createHoldfastMock`. Only `url` is required. */
export interface HoldfastMockOptions {
  /**
   * The base URL your client is created with, e.g. `http://rt.test`. The mock answers
   * `<url>/ws` (as `ws://`), `<url>/sse`, `<url>/poll`, `POST <url>/publish` and `<url>/health`.
   */
  url: string
  /** Epoch of every channel's log, so cursors read `<epoch>:<n>`. Defaults to `'mock'`. */
  epoch?: string
  /** Messages kept per channel for replay; older ones are trimmed (a resume from before them is a gap). Defaults to 1000. */
  historyLimit?: number
  /** `maxMessageBytes` announced in `welcome` and enforced on publishes. Defaults to 131072 (128 KiB). */
  maxMessageBytes?: number
  /** After `expireToken()`, how long a connection may present a fresh token before it is closed. Defaults to 5000. */
  tokenGraceMs?: number
  /** The `retry:` field that opens each SSE stream, a floor under the client's reconnect delay. Defaults to 0. */
  sseRetryMs?: number
  /** Interval of SSE heartbeat comments (`: hb <ms>`); 0 turns them off. Defaults to 15000. */
  sseHeartbeatMs?: number
  /** Longest time a poll is held, whatever `timeoutMs` the client asks for. Defaults to 25000. */
  maxPollHoldMs?: number
  /** How long an idempotency key is remembered. Defaults to 300000 (5 minutes). */
  idempotencyWindowMs?: number
  /** How long a new WebSocket may take to send `connect` before it is closed with 4004. Defaults to 10000. */
  handshakeTimeoutMs?: number
  /**
   * How long a presence member stays after its connection went (a closed WebSocket or SSE stream, a long
   * poll that was not followed by the next): back within it, the client shows no leave and no join. Defaults
   * to 15000, as the server's `presence.graceMs`.
   */
  presenceGraceMs?: number
  /** Members one channel may hold; past it an enter is refused with `too_many_subscriptions`. Defaults to 1000. */
  presenceMaxMembers?: number
  /** Largest presence `info`, in UTF-8 JSON bytes; past it `message_too_large`. Defaults to 1024. */
  presenceMaxInfoBytes?: number
  /**
   * The client id of a member entering with `token` (a real server reads the token's `sub`). Defaults to
   * none: the member's connection id is its client id, as on a server without auth.
   */
  presenceClientId?: (token: string | undefined) => string | undefined
}

/** A channel's presence on the mock, to look at and to change as other clients would: `mock.presence(channel)`. */
export interface MockPresenceChannel {
  /** Who is present now, by connection id: the test's members and the entered clients'. */
  readonly members: readonly PresenceMember[]
  /**
   * A member joins as if it were a client on another server (no connection of this mock holds it): a `join`
   * event for every watcher. `connectionId` defaults to a fresh one. Returns the member.
   */
  join(member: { clientId: string; connectionId?: string; info?: unknown }): PresenceMember
  /** New info for a present member: an `update` event. False when it is not present. */
  update(connectionId: string, info: unknown): boolean
  /** The member leaves as one that unsubscribed: a `leave` with reason `left`. False when it is not present. */
  leave(connectionId: string): boolean
  /**
   * The member's connection vanished without closing (kill -9, a lost network): a `leave` with reason
   * `expired`, at once (a server says so once its heartbeat and grace ran out; the mock does not make the test
   * wait). A client whose own member vanished enters again, as it does with a server. False when it is not present.
   */
  vanish(connectionId: string): boolean
}

/** Options of `mock.drain`. */
export interface DrainOptions {
  /** The `retryAfterMs` hint every connection is given (and `Retry-After`, in seconds). Defaults to 0. */
  retryAfterMs?: number
}

/** Options of `mock.dropConnections`. */
export interface DropOptions {
  /** WebSocket close code. Defaults to 1006 (abnormal closure, as after a network loss). */
  code?: number
  /** WebSocket close reason, e.g. `{"retryAfterMs":2000}` with code 4000. Defaults to none. */
  reason?: string
  /** Drop only this transport's connections. Defaults to all. */
  transport?: MockTransport
}

/** A Holdfast server emulated with msw. Create it with `createHoldfastMock`. */
export interface HoldfastMock {
  /** The msw handlers: pass them to `setupServer(...mock.handlers)` or `setupWorker(...mock.handlers)`. */
  readonly handlers: Array<RequestHandler | WebSocketHandler>
  /**
   * The presence of `channel` (PROTOCOL.md §8): its members, and members that join, update, leave or vanish
   * as other clients would. Clients watch and enter it with `@holdfast/client/presence` over any transport.
   */
  presence(channel: string): MockPresenceChannel
  /** Stores a message on `channel` and pushes it to every subscriber, as a backend publishing would. */
  publish<TData>(channel: string, data: TData): StoredMessage<TData>
  /**
   * Ends every open connection abruptly: WebSocket closes with `code` (1006 by default), SSE
   * streams fail mid-read, held polls fail with a network error. Returns how many were dropped.
   */
  dropConnections(options?: DropOptions): number
  /** Adds `ms` of latency to every answer and push from now on; 0 removes it. */
  setDelay(ms: number): void
  /**
   * Treats every token seen so far as expired: WebSocket connections get a `token_expired` error
   * frame and are closed with 4100 unless they send `auth` with a new token within `tokenGraceMs`;
   * SSE streams get `event: error` and end after the same grace; held polls answer 401. Later
   * connects or requests with one of these tokens get 4100 / 401.
   */
  expireToken(): void
  /**
   * Makes a transport unavailable until `allow()` or `reset()`: a WebSocket is closed (1006) before
   * its welcome, SSE and long polls answer 404. Open connections of that transport are ended too.
   */
  refuse(transport: MockTransport): void
  /** Undoes `refuse(transport)`. */
  allow(transport: MockTransport): void
  /** Refuses subscribing and publishing to `channel` with `forbidden` (error frame, or 403). */
  forbid(channel: string): void
  /**
   * Forgets the history of `channel` (or of every channel) under a new epoch: the next resume reports a
   * gap. Live subscriptions hear of it as from a real server: WebSockets following the channel are closed
   * with 4000 `{"retryAfterMs":0}`, SSE streams end, held polls answer.
   */
  loseHistory(channel?: string): void
  /**
   * Drains as a server shutting down does (PROTOCOL.md §7): every WebSocket gets a `reconnect` frame
   * and close 4000, every SSE stream `event: reconnect` before it ends, held polls 503; from then on
   * `/health` answers 503 `{"status":"draining"}`, new requests 503 with `Retry-After` and new
   * WebSockets are refused, until `endDrain()` or `reset()`. Returns how many connections were told.
   */
  drain(options?: DrainOptions): number
  /** Ends `drain()`: the mock answers again, as a restarted server would. */
  endDrain(): void
  /** The messages stored on `channel` and still kept, oldest first. */
  history(channel: string): StoredMessage[]
  /** Ends every connection (WebSocket close 1001) and clears history, presence, publishes, connections, delay, refusals, a drain and expired tokens. */
  reset(): void
  /** Publishes made by clients (WebSocket `publish` frames and `POST /publish`), in order. */
  readonly published: readonly MockPublish[]
  /**
   * Every connection since creation or `reset()`, oldest first; filter on `open` for the live ones.
   * Each long-poll request counts as one connection, open while it is held.
   */
  readonly connections: readonly MockConnection[]
}

/**
 * Emulates a Holdfast server with msw, over WebSocket, SSE and long polling, so an app's realtime
 * code and UI can be unit-tested without a server process.
 *
 * @example
 * ```ts
 * const mock = createHoldfastMock({ url: 'http://rt.test' })
 * const server = setupServer(...mock.handlers)
 * server.listen()
 * const client = createClient({ url: 'http://rt.test' }) // after listen(): msw patches WebSocket then
 * client.subscribe('room', (msg) => console.log(msg.data))
 * mock.publish('room', { text: 'hi' })
 * ```
 */
export function createHoldfastMock(options: HoldfastMockOptions): HoldfastMock {
  if (typeof options?.url !== 'string' || !/^(https?|wss?):\/\//.test(options.url)) {
    throw new TypeError(
      `[holdfast mock] createHoldfastMock needs the client's absolute http(s) base url, got ${String(options?.url)}`,
    )
  }
  // Read at call time so fake timers installed after creation still apply.
  const now = () => Date.now()
  const epoch = options.epoch ?? 'mock'
  if (!/^[A-Za-z0-9_-]{1,30}$/.test(epoch)) {
    throw new TypeError(`[holdfast mock] epoch must be 1-30 characters of A-Z a-z 0-9 _ -, got "${epoch}"`)
  }
  const log = new ChannelLog(
    epoch,
    Math.max(1, options.historyLimit ?? 1000),
    options.idempotencyWindowMs ?? 300_000,
    now,
  )
  const presence = new MockPresence(
    {
      graceMs: options.presenceGraceMs ?? 15_000,
      maxMembers: options.presenceMaxMembers ?? 1000,
      maxInfoBytes: options.presenceMaxInfoBytes ?? 1024,
      clientId: options.presenceClientId ?? (() => undefined),
    },
    log,
    now,
  )
  const ctx = new MockContext(
    {
      url: options.url,
      maxMessageBytes: options.maxMessageBytes ?? 128 * 1024,
      tokenGraceMs: options.tokenGraceMs ?? 5000,
      sseRetryMs: options.sseRetryMs ?? 0,
      sseHeartbeatMs: options.sseHeartbeatMs ?? 15_000,
      maxPollHoldMs: options.maxPollHoldMs ?? 25_000,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    },
    log,
    presence,
    now,
  )
  const live = (transport?: MockTransport) =>
    ctx.connections.filter((c) => c.open && (transport === undefined || c.transport === transport))

  return {
    handlers: [
      websocketHandler(ctx),
      sseHandler(ctx),
      pollHandler(ctx),
      publishHandler(ctx),
      healthHandler(ctx),
      plainWebSocketGetHandler(ctx),
    ],
    presence(channel: string): MockPresenceChannel {
      if (!isChannelName(channel) || parsePresenceChannel(channel) !== undefined) {
        throw new TypeError(
          `[holdfast mock] "${channel}" cannot carry presence: name the channel itself, without "~presence"`,
        )
      }
      return {
        get members() {
          return presence.members(channel)
        },
        join: (member) => presence.join(channel, member),
        update: (connectionId, info) => presence.update(channel, connectionId, info),
        leave: (connectionId) => presence.remove(channel, connectionId, 'left'),
        vanish: (connectionId) => presence.remove(channel, connectionId, 'expired'),
      }
    },
    publish<TData>(channel: string, data: TData): StoredMessage<TData> {
      if (!isChannelName(channel)) {
        throw new TypeError(
          `[holdfast mock] "${channel}" is not a channel name (1-200 of A-Z a-z 0-9 _ - . : @ / ~)`,
        )
      }
      if (data === undefined) throw new TypeError('[holdfast mock] publish data must not be undefined')
      return log.append(channel, data).message as StoredMessage<TData>
    },
    dropConnections(drop: DropOptions = {}) {
      const targets = live(drop.transport)
      for (const c of targets) c.end({ kind: 'drop', code: drop.code, reason: drop.reason })
      return targets.length
    },
    setDelay(ms: number) {
      if (!(ms >= 0)) throw new RangeError(`[holdfast mock] setDelay needs a non-negative number, got ${ms}`)
      ctx.delayMs = ms
    },
    expireToken() {
      ctx.expireSeenTokens()
      for (const c of live()) c.end({ kind: 'expire', graceMs: ctx.options.tokenGraceMs })
    },
    refuse(transport: MockTransport) {
      ctx.refused.add(transport)
      for (const c of live(transport)) c.end({ kind: 'refuse' })
    },
    allow(transport: MockTransport) {
      ctx.refused.delete(transport)
    },
    forbid(channel: string) {
      ctx.forbidden.add(channel)
    },
    loseHistory(channel?: string) {
      log.lose(channel)
    },
    drain(drain: DrainOptions = {}) {
      const retryAfterMs = drain.retryAfterMs ?? 0
      if (!(retryAfterMs >= 0))
        throw new RangeError(`[holdfast mock] drain needs a non-negative retryAfterMs, got ${retryAfterMs}`)
      ctx.draining = { retryAfterMs }
      const targets = live()
      for (const c of targets) c.end({ kind: 'drain', retryAfterMs })
      return targets.length
    },
    endDrain() {
      ctx.draining = undefined
    },
    history(channel: string) {
      return log.history(channel)
    },
    reset() {
      for (const c of live()) c.end({ kind: 'reset' })
      presence.clear()
      log.clear()
      ctx.connections.length = 0
      ctx.published.length = 0
      ctx.refused.clear()
      ctx.forbidden.clear()
      ctx.forgetTokens()
      ctx.draining = undefined
      ctx.delayMs = 0
      ctx.resetCounters()
    },
    get published() {
      return [...ctx.published]
    },
    get connections() {
      return [...ctx.connections]
    },
  }
}
