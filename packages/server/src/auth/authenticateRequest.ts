import type { IncomingMessage } from 'node:http'
import { HoldfastServerError } from '../HoldfastServerError'
import { authFailureRefusal } from '../limits/guards'
import { presenceName } from '../presence/presenceFeeds'
import type { ServerContext } from '../ServerContext'
import type { ChannelAction } from '../ServerOptions'
import { type AuthUser, bearerToken } from './createAuthenticator'

export interface AuthenticatedRequest {
  user: AuthUser
  expiresAtMs: number | undefined
  /** The client address (`ServerOptions.clientAddress`). */
  address: string
}

/**
 * Verifies `Authorization: Bearer`; throws 401 (`unauthorized` or `token_expired`), or 429 `rate_limited`
 * once this address has failed too often (`limits.authFailureRate`).
 */
export async function authenticateRequest(
  ctx: ServerContext,
  req: IncomingMessage,
  endpoint: 'sse' | 'poll' | 'publish',
): Promise<AuthenticatedRequest> {
  const address = ctx.options.clientAddress(req)
  const verified = await ctx.authenticator.verify(bearerToken(req.headers.authorization))
  if (!verified.ok) {
    ctx.metrics.authFailed(endpoint, verified.code)
    ctx.logger.debug({ code: verified.code, path: req.url?.split('?')[0] }, '[holdfast] HTTP auth refused')
    throw (
      authFailureRefusal(ctx, address) ??
      new HoldfastServerError(verified.code, `${verified.message}; send "Authorization: Bearer <jwt>"`)
    )
  }
  return { user: verified.user, expiresAtMs: verified.expiresAtMs, address }
}

/**
 * Asks the `authorize` hook whether `user` may subscribe or publish to `channel`. A presence name asks
 * `presence` of its channel (PROTOCOL.md §8), and publishing to a watch name (`<channel>~presence`) is
 * never allowed: its events are the server's. Throws `invalid_channel` for a malformed presence name.
 */
export async function mayUse(
  ctx: ServerContext,
  user: AuthUser,
  channel: string,
  action: Exclude<ChannelAction, 'presence'>,
): Promise<boolean> {
  const name = presenceName(ctx, channel)
  if (!name) return ctx.options.authorize(user, channel, action)
  if (action === 'publish' && name.connectionId === undefined)
    throw new HoldfastServerError(
      'forbidden',
      `"${channel.slice(0, 60)}" is written by the server; a member publishes to its enter channel <channel>~presence~<id>`,
    )
  return ctx.options.authorize(user, name.channel, 'presence')
}

/**
 * Runs the `authorize` hook for each channel; throws 403 `forbidden` naming the first refused one (in the
 * message, and as `channel`, which the HTTP error body carries so a client can drop just that channel).
 */
export async function authorizeChannels(
  ctx: ServerContext,
  user: AuthUser,
  channels: readonly string[],
  action: Exclude<ChannelAction, 'presence'>,
): Promise<void> {
  const verdicts = await Promise.all(channels.map((channel) => mayUse(ctx, user, channel, action)))
  const refused = channels.find((_, i) => !verdicts[i])
  if (refused !== undefined) {
    const name = presenceName(ctx, refused)
    throw new HoldfastServerError(
      'forbidden',
      name
        ? `not allowed to use the presence of "${name.channel}" (the authorize hook's 'presence' action)`
        : `not allowed to ${action} to "${refused}"`,
      { channel: refused },
    )
  }
}
