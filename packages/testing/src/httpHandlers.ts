import { Endpoint, IDEMPOTENCY_KEY_HEADER, isChannelName, isIdempotencyKey } from '@holdfast/protocol'
import { HttpResponse, http, type RequestHandler } from 'msw'
import { sleep } from './connections'
import { bearerToken, drainingResponse, endpointUrl, errorResponse, type MockContext } from './MockContext'
import { type MockPresenceError, PRESENCE_ACK_CURSOR } from './MockPresence'

const UTF8 = new TextEncoder()

/** `POST <base>/publish` (PROTOCOL.md §6). */
export function publishHandler(ctx: MockContext): RequestHandler {
  return http.post(endpointUrl(ctx.options.url, Endpoint.Publish), async ({ request }) => {
    await sleep(ctx.delayMs)
    const draining = drainingResponse(ctx)
    if (draining) return draining
    const token = bearerToken(request)
    ctx.noteToken(token)
    if (ctx.isExpired(token)) return errorResponse(401, 'token_expired', 'this token has expired')
    const text = await request.text()
    const bytes = UTF8.encode(text).length
    if (bytes > ctx.options.maxMessageBytes) {
      return errorResponse(
        413,
        'message_too_large',
        `body is ${bytes} bytes; at most ${ctx.options.maxMessageBytes}`,
      )
    }
    let body: { channel?: unknown; data?: unknown }
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      return errorResponse(400, 'bad_request', 'body must be JSON {"channel","data"}')
    }
    if (typeof body !== 'object' || body === null || !isChannelName(body.channel)) {
      return errorResponse(400, 'invalid_channel', 'body.channel is not a channel name')
    }
    if (body.data === undefined) return errorResponse(400, 'bad_request', 'body.data is required')
    const key = request.headers.get(IDEMPOTENCY_KEY_HEADER) ?? undefined
    if (key !== undefined && !isIdempotencyKey(key)) {
      return errorResponse(400, 'bad_request', 'Idempotency-Key must be 1 to 200 printable characters')
    }
    if (ctx.isForbidden(body.channel)) {
      return errorResponse(
        403,
        'forbidden',
        `channel "${body.channel}" is forbidden`,
        undefined,
        body.channel,
      )
    }
    try {
      if (ctx.presence.publish(body.channel, body.data))
        return HttpResponse.json({ cursor: PRESENCE_ACK_CURSOR, duplicate: false })
    } catch (error) {
      const e = error as MockPresenceError
      return errorResponse(
        e.code === 'message_too_large' ? 413 : e.code === 'forbidden' ? 403 : 400,
        e.code,
        e.message,
      )
    }
    const { message, duplicate } = ctx.log.append(body.channel, body.data, key)
    ctx.published.push({
      channel: body.channel,
      data: body.data,
      cursor: message.cursor,
      key,
      duplicate,
      via: 'http',
    })
    return HttpResponse.json({ cursor: message.cursor, duplicate })
  })
}

/**
 * `GET <base>/health`: healthy unless both HTTP transports are refused (the client checks it
 * before an SSE or long-poll connection with no channel yet).
 */
export function healthHandler(ctx: MockContext): RequestHandler {
  return http.get(endpointUrl(ctx.options.url, Endpoint.Health), async () => {
    await sleep(ctx.delayMs)
    if (ctx.draining) {
      return HttpResponse.json(
        { status: 'draining' },
        {
          status: 503,
          headers: { 'retry-after': String(Math.max(1, Math.ceil(ctx.draining.retryAfterMs / 1000))) },
        },
      )
    }
    if (ctx.refused.has('sse') && ctx.refused.has('longpoll')) {
      return errorResponse(404, 'transport_unavailable', 'SSE and long polling are refused by the mock')
    }
    return HttpResponse.json({ status: 'ok' })
  })
}

/** A plain `GET <base>/ws` (no upgrade): 426, as PROTOCOL.md §3's edge cases say. */
export function plainWebSocketGetHandler(ctx: MockContext): RequestHandler {
  return http.get(endpointUrl(ctx.options.url, Endpoint.WebSocket), async () => {
    await sleep(ctx.delayMs)
    return errorResponse(
      426,
      'bad_request',
      'this endpoint speaks WebSocket only (subprotocol holdfast.v1)',
      {
        upgrade: 'websocket',
      },
    )
  })
}
