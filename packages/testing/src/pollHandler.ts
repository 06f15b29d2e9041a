import {
  type Cursor,
  Endpoint,
  formatCursorMap,
  isChannelName,
  type PollResponse,
  parseCursorMap,
} from '@holdfast/protocol'
import { parsePresenceChannel } from '@holdfast/protocol/presence'
import { HttpResponse, http, type RequestHandler } from 'msw'
import { type EndReason, sleep } from './connections'
import { bearerToken, drainingResponse, endpointUrl, errorResponse, type MockContext } from './MockContext'

const DEFAULT_HOLD_MS = 25_000

type Wake = { kind: 'data' } | { kind: 'timeout' } | { kind: 'aborted' } | { kind: 'end'; reason: EndReason }

/** `GET <base>/poll` as PROTOCOL.md §5 describes: answered at once when there is news, held otherwise. */
export function pollHandler(ctx: MockContext): RequestHandler {
  return http.get(endpointUrl(ctx.options.url, Endpoint.Poll), async ({ request }) => {
    const refusal = check(ctx, request)
    if (refusal) return delayed(ctx, refusal)
    const url = new URL(request.url)
    const channels = [...new Set(url.searchParams.getAll('channel'))]
    if (channels.length === 0)
      return delayed(ctx, errorResponse(400, 'bad_request', 'name at least one ?channel='))
    const invalid = channels.find((c) => !isChannelName(c) || parsePresenceChannel(c) === null)
    if (invalid !== undefined)
      return delayed(ctx, errorResponse(400, 'invalid_channel', `"${invalid}" is not a channel name`))
    const forbidden = channels.find((c) => ctx.isForbidden(c))
    if (forbidden !== undefined)
      return delayed(
        ctx,
        errorResponse(403, 'forbidden', `channel "${forbidden}" is forbidden`, undefined, forbidden),
      )
    const since = parseCursorMap(url.searchParams.get('since') ?? '')
    if (!since) return delayed(ctx, errorResponse(400, 'invalid_cursor', '?since= is not a cursor map'))
    const param = url.searchParams.get('timeoutMs')
    const requested = param === null || param.trim() === '' ? Number.NaN : Number(param)
    const holdMs = Math.min(
      Number.isFinite(requested) && requested >= 0 ? requested : DEFAULT_HOLD_MS,
      ctx.options.maxPollHoldMs,
    )

    const token = bearerToken(request)
    const conn = ctx.open('longpoll', token)
    for (const channel of channels) conn.addChannel(channel)
    // A member entered by a poll stays between polls: it leaves `presenceGraceMs` after this one ends.
    conn.onClose(() => ctx.presence.release(conn))
    let answer = collect(ctx, channels, since, conn, token)
    if (answer.messages.length === 0 && (answer.subscribed ?? []).length === 0 && holdMs > 0) {
      const wake = await new Promise<Wake>((resolve) => {
        const wake = () => resolve({ kind: 'data' })
        const offs = channels.map((channel) => ctx.log.listen(channel, wake, wake))
        const timer = globalThis.setTimeout(() => resolve({ kind: 'timeout' }), holdMs)
        const onAbort = () => resolve({ kind: 'aborted' })
        request.signal.addEventListener('abort', onAbort, { once: true })
        conn.end = (reason) => resolve({ kind: 'end', reason })
        conn.onClose(() => {
          for (const off of offs) off()
          globalThis.clearTimeout(timer)
          request.signal.removeEventListener('abort', onAbort)
        })
      })
      conn.markClosed()
      if (wake.kind === 'aborted') return HttpResponse.error()
      if (wake.kind === 'end') return delayed(ctx, endResponse(wake.reason))
      answer = collect(ctx, channels, since, conn, token)
    }
    conn.markClosed()
    return delayed(ctx, HttpResponse.json(answer))
  })
}

/** Refusal, expired token: the checks every HTTP endpoint of a transport makes first. */
function check(ctx: MockContext, request: Request): Response | undefined {
  if (ctx.refused.has('longpoll'))
    return errorResponse(404, 'transport_unavailable', 'long polling is refused by the mock')
  const draining = drainingResponse(ctx)
  if (draining) return draining
  const token = bearerToken(request)
  ctx.noteToken(token)
  if (ctx.isExpired(token)) return errorResponse(401, 'token_expired', 'this token has expired')
  return undefined
}

function endResponse(reason: EndReason): Response {
  switch (reason.kind) {
    case 'refuse':
      return errorResponse(404, 'transport_unavailable', 'long polling is refused by the mock')
    case 'expire':
      return errorResponse(401, 'token_expired', 'this token has expired')
    case 'drain':
      return errorResponse(503, 'server_restart', 'the mock is draining; poll again shortly', {
        'retry-after': String(Math.ceil(reason.retryAfterMs / 1000)),
      })
    default:
      return HttpResponse.error()
  }
}

async function delayed(ctx: MockContext, response: Response): Promise<Response> {
  await sleep(ctx.delayMs)
  return response
}

/** Everything after `since` on each channel; a channel missing from `since` starts now. */
function collect(
  ctx: MockContext,
  channels: string[],
  since: Map<string, Cursor>,
  holder: object,
  token: string | undefined,
): PollResponse {
  const next = new Map<string, Cursor>()
  const messages: PollResponse['messages'] = []
  const subscribed: NonNullable<PollResponse['subscribed']> = []
  for (const channel of channels) {
    const from = since.get(channel)
    const resume = ctx.presence.open(channel, from, holder, token)
    if (resume.fresh) {
      subscribed.push({ channel, epoch: resume.epoch, cursor: resume.head, recovered: resume.recovered })
    }
    let position = resume.startFrom
    for (const message of resume.replay) {
      messages.push({ channel, cursor: message.cursor, data: message.data })
      position = message.cursor
    }
    next.set(channel, position)
  }
  const body: PollResponse = { since: formatCursorMap(next), messages }
  if (subscribed.length > 0) body.subscribed = subscribed
  return body
}
