import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  type Cursor,
  formatCursorMap,
  formatRetryAfterReason,
  GAP_HEADER,
  REPLAY_FROM_HEADER,
  SseEvent,
} from '@holdfast/protocol'
import { authenticateRequest, authorizeChannels } from '../auth/authenticateRequest'
import type { AuthUser } from '../auth/createAuthenticator'
import type { ReadResult, StoredMessage } from '../broker/Broker'
import { MAX_TIMER_DELAY_MS, type TimerHandle } from '../Clock'
import type { FeedFailure, FeedSink } from '../delivery/ChannelFeed'
import { SendGate } from '../delivery/SendGate'
import { parseChannelQuery } from '../http/channelQuery'
import { sendError } from '../http/responses'
import { errorFields } from '../Logger'
import { addressFullRefusal, admissionRefusal } from '../limits/guards'
import { createFeed, type Feed } from '../presence/presenceFeeds'
import type { ServerContext } from '../ServerContext'

const BLANK_LINE = Buffer.from('\n\n')

// One slot is enough: a live message is written to every stream in one go before the next one comes.
let lastMessage: StoredMessage | undefined
let lastEvent: Buffer = BLANK_LINE

/** `id: <channel>=<cursor>` + the body, for streams of one channel: encoded once per message, not per stream. */
function singleChannelEvent(message: StoredMessage): Buffer {
  if (message !== lastMessage) {
    const id = formatCursorMap(new Map([[message.channel, message.cursor]]))
    lastEvent = Buffer.concat([Buffer.from(`id: ${id}\ndata: `), message.bodyBytes, BLANK_LINE])
    lastMessage = message
  }
  return lastEvent
}

/**
 * `GET /sse?channel=a&channel=b`: one Server-Sent Events stream for several channels (docs/PROTOCOL.md
 * section 4). Each event id is the whole cursor map, so a browser's `Last-Event-ID` resumes every channel.
 */
export async function sseHandler(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const lastEventId = req.headers['last-event-id']
  const cursorMap =
    typeof lastEventId === 'string' && lastEventId !== ''
      ? lastEventId
      : (url.searchParams.get('since') ?? undefined)
  const { channels, since } = parseChannelQuery(
    url.searchParams,
    cursorMap,
    ctx.options.maxSubscriptionsPerConnection,
  )
  const { user, expiresAtMs, address } = await authenticateRequest(ctx, req, 'sse')
  await authorizeChannels(ctx, user, channels, 'subscribe')
  // Admission comes after identity: requests without a valid token never spend the budget of real users.
  const refused = addressFullRefusal(ctx, address) ?? admissionRefusal(ctx)
  if (refused) {
    ctx.metrics.rateLimited('sse')
    throw refused
  }
  if (res.destroyed) return
  new SseStream(ctx, res, channels, since, expiresAtMs, address, user).open()
}

class SseStream {
  readonly transport = 'sse' as const
  readonly address: string
  readonly #ctx: ServerContext
  readonly #res: ServerResponse
  readonly #channels: string[]
  readonly #positions = new Map<string, Cursor>()
  readonly #feeds: Feed[]
  readonly #expiresAtMs: number | undefined
  readonly #resumedFrom: Set<string>
  #closed = false
  #heartbeatTimer: TimerHandle | undefined
  #expiryTimer: TimerHandle | undefined
  readonly #gate: SendGate

  constructor(
    ctx: ServerContext,
    res: ServerResponse,
    channels: string[],
    since: Map<string, Cursor>,
    expiresAtMs: number | undefined,
    address: string,
    user: AuthUser,
  ) {
    this.#ctx = ctx
    this.address = address
    this.#res = res
    this.#gate = new SendGate(ctx, {
      transport: 'sse',
      emitter: () => res,
      bufferedBytes: () => res.writableLength,
      sizeOf: (message) => message.bodyBytes.length,
      writable: () => !this.#closed,
      closed: () => this.#closed,
      send: (message, live) => this.#send(message, live),
      slowConsumer: () => this.#slowConsumer(),
    })
    this.#channels = channels
    this.#expiresAtMs = expiresAtMs
    this.#resumedFrom = new Set(since.keys())
    this.#feeds = channels.map((channel) =>
      createFeed(ctx, { channel, since: since.get(channel), sink: this.#sink, user, holder: 'sse' }),
    )
    ctx.connections.add(this)
    res.on('close', () => this.#close())
    res.on('error', () => this.#close())
  }

  open(): void {
    Promise.all(this.#feeds.map((feed) => feed.open()))
      .then((results) => this.#start(results))
      .catch((error: unknown) => {
        this.#ctx.logger.error(errorFields(error), '[holdfast] SSE stream failed to open')
        if (!this.#closed) sendError(this.#res, 500, 'internal', 'could not read channel history')
        this.#close()
      })
  }

  #start(results: Array<ReadResult | null>): void {
    if (this.#closed) return
    const started = results as ReadResult[]
    if (started.some((r) => r === null)) {
      this.#close()
      return
    }
    const gaps: string[] = []
    this.#ctx.metrics.connected('sse')
    started.forEach((result, i) => {
      const channel = this.#channels[i]!
      this.#positions.set(channel, result.from)
      if (!result.recovered) gaps.push(channel)
      if (this.#resumedFrom.has(channel)) this.#ctx.metrics.resumed('sse', result.recovered)
    })
    const startMap = formatCursorMap(this.#positions)
    const headers: Record<string, string> = {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      [REPLAY_FROM_HEADER]: startMap,
    }
    if (gaps.length > 0) headers[GAP_HEADER] = gaps.join(',')
    this.#res.writeHead(200, headers)
    let preamble = `retry: ${this.#ctx.options.sseRetryMs}\n\n`
    started.forEach((result, i) => {
      const data = {
        channel: this.#channels[i],
        epoch: result.epoch,
        cursor: result.head,
        recovered: result.recovered,
      }
      preamble += `event: ${SseEvent.Subscribed}\nid: ${startMap}\ndata: ${JSON.stringify(data)}\n\n`
    })
    this.#write(preamble)
    this.#scheduleHeartbeat()
    this.#scheduleExpiry()
    started.forEach((result, i) => {
      this.#feeds[i]!.start(result)
    })
  }

  readonly #sink: FeedSink = {
    write: (message, live, policy) => this.#gate.write(message, live, policy),
    dropped: (reason) => this.#ctx.metrics.dropped('sse', reason),
    bufferedBytes: () => this.#res.writableLength,
    drained: () => this.#gate.drained(),
    fail: (reason: FeedFailure) => {
      if (reason === 'slow_consumer') return this.#slowConsumer()
      // The client reconnects with the last id it saw; a fresh read then reports any gap honestly.
      this.#end()
    },
  }

  #send(message: StoredMessage, live: boolean): void {
    this.#positions.set(message.channel, message.cursor)
    const res = this.#res
    if (this.#positions.size === 1) {
      // One channel: the event (id included) is the same bytes for every stream, encoded once per message.
      res.write(singleChannelEvent(message))
      this.#ctx.metrics.delivered('sse', message, live)
      return
    }
    res.cork()
    res.write(`id: ${formatCursorMap(this.#positions)}\ndata: `)
    res.write(message.bodyBytes)
    res.write(BLANK_LINE)
    process.nextTick(() => res.uncork())
    this.#ctx.metrics.delivered('sse', message, live)
  }

  // Heartbeats and goodbyes: never dropped; closed only past twice the send buffer, whatever the policy.
  #write(chunk: string): void {
    if (this.#closed) return
    if (!this.#res.write(chunk) && this.#res.writableLength > 2 * this.#ctx.options.sendBufferBytes)
      this.#slowConsumer()
  }

  #slowConsumer(): void {
    if (this.#closed) return
    this.#ctx.metrics.slowConsumerClosed('sse')
    this.#ctx.logger.warn(
      { bufferedBytes: this.#res.writableLength },
      '[holdfast] slow SSE consumer: send buffer full; ending the stream',
    )
    // Queued bytes would only be sent late; cut now and let the client resume from its last id.
    this.#res.destroy()
    this.#close()
  }

  #scheduleHeartbeat(): void {
    this.#heartbeatTimer = this.#ctx.clock.setTimeout(() => {
      this.#write(`: hb ${this.#ctx.clock.now()}\n\n`)
      if (!this.#closed) this.#scheduleHeartbeat()
    }, this.#ctx.options.sseHeartbeatMs)
  }

  #scheduleExpiry(): void {
    if (this.#expiresAtMs === undefined) return
    const delay = this.#expiresAtMs - this.#ctx.clock.now()
    if (delay > MAX_TIMER_DELAY_MS) {
      this.#expiryTimer = this.#ctx.clock.setTimeout(() => this.#scheduleExpiry(), MAX_TIMER_DELAY_MS)
      return
    }
    this.#expiryTimer = this.#ctx.clock.setTimeout(
      () => {
        const frame = {
          type: 'error',
          code: 'token_expired',
          message: 'the token expired; reconnect with a fresh one',
        }
        this.#write(`event: ${SseEvent.Error}\ndata: ${JSON.stringify(frame)}\n\n`)
        this.#end()
      },
      Math.max(0, delay),
    )
  }

  /** Tells the client when to come back, then ends the stream (a drain or restart). */
  drain(retryAfterMs: number): void {
    if (this.#closed) return
    if (!this.#res.headersSent) {
      sendError(this.#res, 503, 'server_restart', 'the server is shutting down; reconnect shortly', {
        'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
        Connection: 'close',
      })
      this.#close()
      return
    }
    // `retry:` makes even a plain EventSource wait out the spread delay before it comes back.
    this.#write(
      `retry: ${retryAfterMs}\nevent: ${SseEvent.Reconnect}\ndata: ${formatRetryAfterReason(retryAfterMs)}\n\n`,
    )
    // Not back into the keep-alive pool: the reconnect must dial again, to a process that stays.
    const socket = this.#res.socket
    this.#res.once('finish', () => socket?.end())
    this.#end()
  }

  terminate(): void {
    this.#res.destroy()
  }

  #end(): void {
    if (this.#closed) return
    this.#res.end()
    this.#close()
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#ctx.clock.clearTimeout(this.#heartbeatTimer)
    this.#ctx.clock.clearTimeout(this.#expiryTimer)
    for (const feed of this.#feeds) feed.close()
    this.#gate.clear()
    this.#ctx.connections.remove(this)
  }
}
