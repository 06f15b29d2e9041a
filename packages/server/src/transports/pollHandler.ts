import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type Cursor,
  formatCursorMap,
  GAP_HEADER,
  type PollResponse,
  REPLAY_FROM_HEADER,
} from '@holdfast/protocol'
import { authenticateRequest, authorizeChannels } from '../auth/authenticateRequest'
import type { AuthUser } from '../auth/createAuthenticator'
import type { ReadResult, StoredMessage } from '../broker/Broker'
import type { TimerHandle } from '../Clock'
import { HoldfastServerError } from '../HoldfastServerError'
import { parseChannelQuery } from '../http/channelQuery'
import { sendError, sendJsonText } from '../http/responses'
import { errorFields } from '../Logger'
import { addressFullRefusal, admissionRefusal } from '../limits/guards'
import { pollPresence, presenceName } from '../presence/presenceFeeds'
import type { ServerContext } from '../ServerContext'

/**
 * `GET /poll?channel=a&since=<cursor map>&timeoutMs=n` (docs/PROTOCOL.md section 5). Stateless: the
 * answer derives from the request and the broker alone, so any process can serve any poll.
 */
export async function pollHandler(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const { channels, since } = parseChannelQuery(
    url.searchParams,
    url.searchParams.get('since') ?? undefined,
    ctx.options.maxSubscriptionsPerConnection,
  )
  let holdMs = ctx.options.pollTimeoutMs
  const requested = url.searchParams.get('timeoutMs')
  if (requested !== null) {
    // Any length of digits: a longer hold than the server's is capped to it (PROTOCOL.md §5), not refused.
    if (!/^\d+$/.test(requested))
      throw new HoldfastServerError('bad_request', 'timeoutMs must be a non-negative integer (milliseconds)')
    holdMs = Math.min(holdMs, Number(requested))
  }
  const { user, expiresAtMs, address } = await authenticateRequest(ctx, req, 'poll')
  await authorizeChannels(ctx, user, channels, 'subscribe')
  // A poll without a cursor for every channel starts a session: a new connection, admitted like one,
  // and only once its token is verified. Polls that continue a session are never refused.
  const refused =
    addressFullRefusal(ctx, address) ??
    (channels.some((c) => !since.has(c)) ? admissionRefusal(ctx) : undefined)
  if (refused) {
    ctx.metrics.rateLimited('poll')
    throw refused
  }
  // Never hold a poll past its token's lifetime: the next poll must show a valid token.
  if (expiresAtMs !== undefined) holdMs = Math.min(holdMs, Math.max(0, expiresAtMs - ctx.clock.now()))
  if (res.destroyed) return
  await new LongPoll(ctx, res, channels, since, holdMs, address, user).run()
}

interface Collected {
  hasNews: boolean
  body: string
  headers: Record<string, string>
  messages: StoredMessage[]
  gaps: number
}

class LongPoll {
  readonly transport = 'poll' as const
  readonly address: string
  readonly #ctx: ServerContext
  readonly #res: ServerResponse
  readonly #channels: string[]
  readonly #since: Map<string, Cursor>
  readonly #holdMs: number
  readonly #user: AuthUser
  /** A presence member entered once per poll, however many times the poll reads (PROTOCOL.md §8). */
  readonly #entered = new Map<string, Promise<ReadResult>>()
  readonly #unsubscribes: Array<() => void> = []
  #done = false
  #timer: TimerHandle | undefined
  #collecting = false
  #dirty = false
  #last: Collected | undefined

  constructor(
    ctx: ServerContext,
    res: ServerResponse,
    channels: string[],
    since: Map<string, Cursor>,
    holdMs: number,
    address: string,
    user: AuthUser,
  ) {
    this.#ctx = ctx
    this.#user = user
    this.address = address
    this.#res = res
    this.#channels = channels
    this.#since = since
    this.#holdMs = holdMs
    ctx.connections.add(this)
    res.on('close', () => this.#finish())
  }

  /** Answers a held poll with when to come back (a drain or restart). */
  drain(retryAfterMs: number): void {
    if (this.#finish())
      sendError(this.#res, 503, 'server_restart', 'the server is shutting down; poll again shortly', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
        Connection: 'close',
      })
  }

  terminate(): void {
    this.#res.destroy()
  }

  async run(): Promise<void> {
    if (this.#channels.some((c) => !this.#since.has(c))) this.#ctx.metrics.connected('poll')
    try {
      const hold = this.#holdMs > 0 && this.#channels.every((c) => this.#since.has(c))
      if (hold) {
        // Listen before reading, so a message stored between the read and the wait still wakes us.
        this.#ctx.resyncListeners.add(this)
        for (const channel of this.#channels) {
          // An enter channel has no log to wake a poll.
          if (presenceName(this.#ctx, channel)?.connectionId !== undefined) continue
          const unsubscribe = await this.#ctx.broker.subscribe(channel, this.#onSignal)
          if (this.#done) return unsubscribe()
          this.#unsubscribes.push(unsubscribe)
        }
        this.#timer = this.#ctx.clock.setTimeout(() => this.#answer(this.#last, true), this.#holdMs)
      }
      this.#collecting = true
      const collected = await this.#collect()
      this.#collecting = false
      if (collected.hasNews || !hold) return this.#answer(collected, false)
      this.#last = collected
      if (this.#dirty) this.#onSignal()
    } catch (error) {
      this.#fail(error)
    }
  }

  /** The broker may have missed messages: look again. */
  resync(): void {
    this.#onSignal()
  }

  readonly #onSignal = (): void => {
    if (this.#done) return
    if (this.#collecting) {
      this.#dirty = true
      return
    }
    this.#collecting = true
    this.#dirty = false
    this.#collect()
      .then((collected) => {
        this.#collecting = false
        if (collected.hasNews) return this.#answer(collected, true)
        this.#last = collected
        if (this.#dirty) this.#onSignal()
      })
      .catch((error: unknown) => this.#fail(error))
  }

  async #collect(): Promise<Collected> {
    const { options } = this.#ctx
    const next = new Map<string, Cursor>()
    const from = new Map<string, Cursor>()
    const gaps: string[] = []
    const subscribed: NonNullable<PollResponse['subscribed']> = []
    const bodies: string[] = []
    const messages: StoredMessage[] = []
    let bytes = 0
    let room = options.pollMaxMessages
    for (const channel of this.#channels) {
      const since = this.#since.get(channel)
      const result = await this.#read(channel, since, Math.max(room, 1))
      from.set(channel, result.from)
      let position = result.from
      // A budget in bytes as well as count keeps one answer within the send buffer (at least one message);
      // a presence snapshot goes whole (bounded by presence.snapshotLimit), or the next poll would start it over.
      for (const message of result.messages) {
        if (
          !result.whole &&
          (room <= 0 || (bodies.length > 0 && bytes + message.body.length > options.sendBufferBytes))
        )
          break
        bodies.push(message.body)
        messages.push(message)
        bytes += message.body.length
        room--
        position = message.cursor
      }
      next.set(channel, position)
      if (since === undefined || !result.recovered) {
        subscribed.push({ channel, epoch: result.epoch, cursor: result.head, recovered: result.recovered })
      }
      if (!result.recovered) gaps.push(channel)
    }
    const headers: Record<string, string> = { [REPLAY_FROM_HEADER]: formatCursorMap(from) }
    if (gaps.length > 0) headers[GAP_HEADER] = gaps.join(',')
    const body = `{"since":${JSON.stringify(formatCursorMap(next))},"messages":[${bodies.join(',')}],"subscribed":${JSON.stringify(subscribed)}}`
    return { hasNews: bodies.length > 0 || subscribed.length > 0, body, headers, messages, gaps: gaps.length }
  }

  /** A channel's log from `since`; a presence channel's snapshot or enter (PROTOCOL.md §8). */
  #read(
    channel: string,
    since: string | undefined,
    limit: number,
  ): Promise<ReadResult & { whole?: boolean }> {
    const ctx = this.#ctx
    const name = presenceName(ctx, channel)
    if (!name) return ctx.broker.read(channel, { ...(since === undefined ? {} : { since }), limit })
    if (name.connectionId === undefined)
      return pollPresence(ctx, name, since, this.#user, this.#holdMs, limit)
    let entered = this.#entered.get(channel)
    if (!entered) {
      entered = pollPresence(ctx, name, since, this.#user, this.#holdMs, limit)
      this.#entered.set(channel, entered)
    }
    return entered
  }

  /** `live`: the poll was held and woken by a message, so its messages count as live deliveries. */
  #answer(collected: Collected | undefined, live: boolean): void {
    if (!collected) {
      // The hold ran out before the first read finished; answer once it does.
      this.#dirty = false
      this.#collect()
        .then((c) => this.#answer(c, false))
        .catch((error: unknown) => this.#fail(error))
      return
    }
    if (!this.#finish()) return
    sendJsonText(this.#res, 200, collected.body, collected.headers)
    const { metrics } = this.#ctx
    for (const message of collected.messages) metrics.delivered('poll', message, live)
    for (let i = 0; i < collected.gaps; i++) metrics.gap('poll')
  }

  #fail(error: unknown): void {
    this.#ctx.logger.error(errorFields(error), '[holdfast] long poll failed')
    if (this.#finish()) sendError(this.#res, 500, 'internal', 'could not read channel history')
  }

  /** Releases everything; true the first time, when the caller may still answer. */
  #finish(): boolean {
    if (this.#done) return false
    this.#done = true
    this.#ctx.clock.clearTimeout(this.#timer)
    this.#ctx.resyncListeners.delete(this)
    for (const unsubscribe of this.#unsubscribes) unsubscribe()
    this.#ctx.connections.remove(this)
    return !this.#res.destroyed && !this.#res.headersSent
  }
}
