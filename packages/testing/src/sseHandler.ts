import {
  type Cursor,
  Endpoint,
  formatCursorMap,
  formatRetryAfterReason,
  GAP_HEADER,
  isChannelName,
  parseCursorMap,
  REPLAY_FROM_HEADER,
  SseEvent,
} from '@holdfast/protocol'
import { parsePresenceChannel } from '@holdfast/protocol/presence'
import { HttpResponse, http, type RequestHandler } from 'msw'
import type { StoredMessage } from './ChannelLog'
import { type EndReason, Outbox, sleep } from './connections'
import { bearerToken, drainingResponse, endpointUrl, errorResponse, type MockContext } from './MockContext'

const UTF8 = new TextEncoder()

/** One SSE event in the wire format of PROTOCOL.md §4. */
export function formatSseEvent(event: { event?: string; id?: string; data: unknown }): string {
  let out = ''
  if (event.event) out += `event: ${event.event}\n`
  if (event.id !== undefined) out += `id: ${event.id}\n`
  return `${out}data: ${JSON.stringify(event.data)}\n\n`
}

/** `GET <base>/sse`: a streaming `text/event-stream` response, resumable through `Last-Event-ID`. */
export function sseHandler(ctx: MockContext): RequestHandler {
  return http.get(endpointUrl(ctx.options.url, Endpoint.Sse), async ({ request }) => {
    await sleep(ctx.delayMs)
    if (ctx.refused.has('sse'))
      return errorResponse(404, 'transport_unavailable', 'SSE is refused by the mock')
    const draining = drainingResponse(ctx)
    if (draining) return draining
    const token = bearerToken(request)
    ctx.noteToken(token)
    if (ctx.isExpired(token)) return errorResponse(401, 'token_expired', 'this token has expired')
    const url = new URL(request.url)
    const channels = [...new Set(url.searchParams.getAll('channel'))]
    if (channels.length === 0) return errorResponse(400, 'bad_request', 'name at least one ?channel=')
    const invalid = channels.find((c) => !isChannelName(c) || parsePresenceChannel(c) === null)
    if (invalid !== undefined)
      return errorResponse(400, 'invalid_channel', `"${invalid}" is not a channel name`)
    const forbidden = channels.find((c) => ctx.isForbidden(c))
    if (forbidden !== undefined)
      return errorResponse(403, 'forbidden', `channel "${forbidden}" is forbidden`, undefined, forbidden)
    const since = parseCursorMap(request.headers.get('last-event-id') ?? url.searchParams.get('since') ?? '')
    if (!since) return errorResponse(400, 'invalid_cursor', 'Last-Event-ID / since is not a cursor map')

    const conn = ctx.open('sse', token)
    // Members enter before any watch is read: their joins are then in what the watches replay.
    const entersFirst = [...channels].sort((a, b) => Number(!isEnter(a)) - Number(!isEnter(b)))
    const opened = new Map(entersFirst.map((c) => [c, ctx.presence.open(c, since.get(c), conn, token)]))
    const resumes = channels.map((channel) => opened.get(channel)!)
    const position = new Map<string, Cursor>(resumes.map((r) => [r.channel, r.startFrom]))
    const startId = formatCursorMap(position)
    const gaps = resumes.filter((r) => !r.recovered && since.has(r.channel)).map((r) => r.channel)
    const outbox = new Outbox(() => ctx.delayMs, ctx.now)
    const offs: (() => void)[] = []
    let heartbeat: ReturnType<typeof setInterval> | undefined
    let controller!: ReadableStreamDefaultController<Uint8Array>

    const write = (text: string) => {
      if (!conn.open) return
      try {
        controller.enqueue(UTF8.encode(text))
      } catch {
        conn.markClosed()
      }
    }
    const messageEvent = (message: StoredMessage) => {
      position.set(message.channel, message.cursor)
      return formatSseEvent({
        id: formatCursorMap(position),
        data: { channel: message.channel, cursor: message.cursor, data: message.data },
      })
    }
    const finish = (how: 'close' | 'error') => {
      if (!conn.open) return
      conn.markClosed()
      try {
        if (how === 'error') controller.error(new TypeError('[holdfast mock] connection dropped'))
        else controller.close()
      } catch {
        // already closed by the reader
      }
    }
    conn.onClose(() => {
      ctx.presence.release(conn)
      outbox.close()
      if (heartbeat !== undefined) globalThis.clearInterval(heartbeat)
      for (const off of offs.splice(0)) off()
    })
    let graceTimer: ReturnType<typeof setTimeout> | undefined
    conn.onClose(() => globalThis.clearTimeout(graceTimer))
    conn.end = (reason: EndReason) => {
      if (reason.kind === 'expire') {
        outbox.push(() =>
          write(
            formatSseEvent({
              event: SseEvent.Error,
              data: { type: 'error', code: 'token_expired', message: '[holdfast mock] token expired' },
            }),
          ),
        )
        globalThis.clearTimeout(graceTimer)
        graceTimer = globalThis.setTimeout(() => finish('close'), reason.graceMs)
        return
      }
      if (reason.kind === 'drain') {
        const hint = reason.retryAfterMs
        outbox.push(() => {
          write(`retry: ${hint}\nevent: ${SseEvent.Reconnect}\ndata: ${formatRetryAfterReason(hint)}\n\n`)
          finish('close')
        })
        return
      }
      finish(reason.kind === 'drop' ? 'error' : 'close')
    }
    // msw does not pass a client's abort on to a response it already returned; listen for it here.
    // Holding `request` keeps its signal alive for as long as the stream is open.
    const onAbort = () => finish('error')
    request.signal.addEventListener('abort', onAbort, { once: true })
    conn.onClose(() => request.signal.removeEventListener('abort', onAbort))

    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c
        let head = `retry: ${ctx.options.sseRetryMs}\n\n`
        for (const r of resumes) {
          head += formatSseEvent({
            event: SseEvent.Subscribed,
            id: startId,
            data: { channel: r.channel, epoch: r.epoch, cursor: r.head, recovered: r.recovered },
          })
        }
        for (const r of resumes) for (const message of r.replay) head += messageEvent(message)
        write(head)
        for (const channel of channels) {
          conn.addChannel(channel)
          // History lost under the stream: end it; the client resumes from its last id and hears of the gap.
          const lost = () => outbox.push(() => finish('close'))
          offs.push(
            ctx.log.listen(channel, (message) => outbox.push(() => write(messageEvent(message))), lost),
          )
        }
        if (ctx.options.sseHeartbeatMs > 0) {
          heartbeat = globalThis.setInterval(() => write(`: hb ${ctx.now()}\n\n`), ctx.options.sseHeartbeatMs)
        }
      },
      cancel() {
        conn.markClosed()
      },
    })
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      [REPLAY_FROM_HEADER]: startId,
    }
    if (gaps.length > 0) headers[GAP_HEADER] = gaps.join(',')
    return new HttpResponse(stream, { headers })
  })
}

const isEnter = (channel: string) => parsePresenceChannel(channel)?.connectionId !== undefined
