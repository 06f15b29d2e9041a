import { isChannelName } from '@holdfast/protocol'
import type { AuthorizeHook, ChannelAction } from '../ServerOptions'
import type { AuthUser } from './createAuthenticator'

/** The claim a token carries to say which channels it may use. */
export const CHANNELS_CLAIM = 'channels'

const ACTIONS: readonly ChannelAction[] = ['subscribe', 'publish', 'presence']

/**
 * Whether `pattern` matches `channel`: an exact name, or a name ending in `*` that matches any rest
 * (`chat.*` matches `chat.room.1`; `*` alone matches every channel). Nothing else is special.
 */
export function matchesChannelPattern(pattern: string, channel: string): boolean {
  if (pattern.endsWith('*')) return channel.startsWith(pattern.slice(0, -1))
  return pattern === channel
}

function isPattern(value: unknown): value is string {
  if (typeof value !== 'string') return false
  if (value === '*') return true
  const stem = value.endsWith('*') ? value.slice(0, -1) : value
  return isChannelName(stem)
}

/**
 * What a `channels` claim grants for `action` on `channel`:
 * - an array of patterns grants every action (subscribe, publish, presence) on every matching channel;
 * - an object of pattern → actions (`{ "news": ["subscribe"], "chat.*": ["subscribe", "publish", "presence"] }`)
 *   grants the listed actions on matching channels.
 * Presence is checked against the channel itself: `"chat.*": ["presence"]` lets a token see who is in
 * `chat.room` and enter it, never `chat.room~presence` as a channel of its own.
 * A malformed claim grants nothing: a token that tries to restrict itself must never end up unrestricted.
 */
export function channelsClaimAllows(claim: unknown, channel: string, action: ChannelAction): boolean {
  if (Array.isArray(claim)) return claim.some((p) => isPattern(p) && matchesChannelPattern(p, channel))
  if (typeof claim !== 'object' || claim === null) return false
  for (const [pattern, actions] of Object.entries(claim)) {
    if (!isPattern(pattern) || !matchesChannelPattern(pattern, channel)) continue
    if (Array.isArray(actions) && actions.includes(action) && ACTIONS.includes(action)) return true
  }
  return false
}

export interface ChannelsClaimOptions {
  /**
   * Refuse tokens without a `channels` claim (every action is `forbidden`). Defaults to false: without the
   * claim a token may use every channel, as when no `authorize` hook is given.
   */
  required?: boolean
}

/**
 * The default `authorize`: honours a token's `channels` claim when it has one (see
 * `channelsClaimAllows`), and allows everything without it unless `required`. A server running open
 * (no `auth`, `user` is null) allows everything. Compose it into your own hook to keep the claim:
 * `authorize: (user, channel, action) => channelsClaim(user, channel, action) && myRule(user, channel)`.
 */
export function authorizeByChannelsClaim(options: ChannelsClaimOptions = {}): AuthorizeHook {
  const required = options.required === true
  return (user: AuthUser, channel: string, action: ChannelAction): boolean => {
    if (user === null) return true
    if (!Object.hasOwn(user, CHANNELS_CLAIM)) return !required
    return channelsClaimAllows(user[CHANNELS_CLAIM], channel, action)
  }
}
