import { Endpoint, IDEMPOTENCY_KEY_HEADER, type PublishResponse } from '@holdfast/protocol'
import type { PublishResult } from '../core/publishQueue'
import { HoldfastError } from '../HoldfastError'
import { errorFromBody, parseRetryAfter } from '../sse/readEventStream'
import { endpointUrl } from './endpointUrl'
import type { DisconnectInfo, TransportContext } from './Transport'

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {}
}

/** Maps an HTTP failure of a stream or poll to what the client should do next. */
export function disconnectFromStatus(
  status: number,
  body: string,
  retryAfterMs: number | undefined,
  opened: boolean,
): DisconnectInfo {
  const error = errorFromBody(status, body, retryAfterMs)
  if (status === 401) return { opened, action: 'refresh', code: 4100, error, retryAfterMs }
  if (status === 403) return { opened, action: 'stop', error }
  if (status === 429 || status === 503) return { opened, action: 'reconnect', error, retryAfterMs }
  if (status >= 500) return { opened, action: 'reconnect', error }
  // 404, 405, 400 and friends: this endpoint is not usable here (a proxy, an old server); fall back.
  return {
    opened: false,
    action: 'reconnect',
    error: new HoldfastError('transport_unavailable', error.message, { cause: error }),
  }
}

/** One `POST /publish`; a 401 gets one retry with a fresh token. */
export async function postPublish(
  ctx: TransportContext,
  request: { channel: string; data: unknown; key: string },
): Promise<PublishResult> {
  const url = endpointUrl(ctx.baseUrl, Endpoint.Publish)
  const body = JSON.stringify({ channel: request.channel, data: request.data })
  for (let attempt = 0; ; attempt++) {
    const token = await ctx.getToken()
    let response: Response
    try {
      response = await ctx.fetch()(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [IDEMPOTENCY_KEY_HEADER]: request.key,
          ...authHeaders(token),
        },
        body,
      })
    } catch (error) {
      throw new HoldfastError('disconnected', 'publish request failed', { cause: error })
    }
    const text = await response.text().catch(() => '')
    if (response.ok) {
      try {
        const parsed = JSON.parse(text) as PublishResponse
        if (typeof parsed.cursor === 'string')
          return { cursor: parsed.cursor, duplicate: parsed.duplicate === true }
      } catch {
        // fall through
      }
      throw new HoldfastError('bad_frame', 'server answered a publish without a cursor')
    }
    if (response.status === 401 && attempt === 0 && ctx.refreshToken) {
      await ctx.refreshToken()
      continue
    }
    throw errorFromBody(
      response.status,
      text,
      parseRetryAfter(response.headers.get('retry-after'), ctx.now()),
    )
  }
}
