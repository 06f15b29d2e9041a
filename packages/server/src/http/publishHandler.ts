import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  IDEMPOTENCY_KEY_HEADER,
  isChannelName,
  isIdempotencyKey,
  type PublishResponse,
} from '@holdfast/protocol'
import { authenticateRequest, authorizeChannels } from '../auth/authenticateRequest'
import { encodePayload } from '../encodePayload'
import { HoldfastServerError } from '../HoldfastServerError'
import { clientKey, publishRefusal } from '../limits/guards'
import { presenceName } from '../presence/presenceFeeds'
import type { ServerContext } from '../ServerContext'
import { readBody } from './readBody'
import { sendJson } from './responses'

/** `POST /publish`: body `{"channel","data"}`, optional `Idempotency-Key`; answers `{cursor, duplicate}`. */
export async function publishHandler(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { user, address } = await authenticateRequest(ctx, req, 'publish')
  const key = req.headers[IDEMPOTENCY_KEY_HEADER]
  if (key !== undefined && !isIdempotencyKey(key))
    throw new HoldfastServerError(
      'bad_request',
      'Idempotency-Key must be 1 to 200 printable characters without spaces',
    )
  const raw = await readBody(req, ctx.options.maxMessageBytes)
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch {
    throw new HoldfastServerError('bad_request', 'the body must be JSON: {"channel":"…","data":…}')
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HoldfastServerError('bad_request', 'the body must be a JSON object: {"channel":"…","data":…}')
  const { channel, data } = body as { channel?: unknown; data?: unknown }
  if (!isChannelName(channel))
    throw new HoldfastServerError(
      'invalid_channel',
      'body.channel must be a channel name (1-200 of A-Z a-z 0-9 _ - . : @ / ~)',
    )
  if (data === undefined) throw new HoldfastServerError('bad_request', 'body.data is required')
  const json = encodePayload(data, ctx.options.maxMessageBytes)
  await authorizeChannels(ctx, user, [channel], 'publish')
  const limited = publishRefusal(ctx, clientKey(user, address), undefined)
  if (limited) throw limited
  const name = presenceName(ctx, channel)
  if (name?.connectionId !== undefined) {
    // A member's info, touch or leave (PROTOCOL.md §8): nothing is stored that a client reads back.
    await ctx.presence.publish(user, { channel: name.channel, connectionId: name.connectionId }, data)
    sendJson(res, 200, { cursor: 'presence:0', duplicate: false } satisfies PublishResponse)
    return
  }
  const result = await ctx.broker.publish(channel, json, key === undefined ? {} : { idempotencyKey: key })
  ctx.metrics.published('http', result.duplicate)
  const answer: PublishResponse = { cursor: result.cursor, duplicate: result.duplicate }
  sendJson(res, 200, answer)
}
