import { type Cursor, isChannelName, parseCursorMap } from '@holdfast/protocol'
import { HoldfastServerError } from '../HoldfastServerError'

export interface ChannelQuery {
  channels: string[]
  since: Map<string, Cursor>
}

/**
 * Reads `channel=a&channel=b` and a cursor map, as `/sse` and `/poll` take them. Rejects anything
 * malformed with a typed 400 rather than guessing: a wrong guess would lose or repeat messages.
 */
export function parseChannelQuery(
  params: URLSearchParams,
  cursorMap: string | undefined,
  maxChannels: number,
): ChannelQuery {
  const channels = [...new Set(params.getAll('channel'))]
  if (channels.length === 0)
    throw new HoldfastServerError('bad_request', 'name at least one channel: ?channel=NAME')
  const invalid = channels.find((c): boolean => !isChannelName(c))
  if (invalid !== undefined)
    throw new HoldfastServerError(
      'invalid_channel',
      `"${invalid.slice(0, 60)}" is not a channel name (1-200 of A-Z a-z 0-9 _ - . : @ / ~)`,
    )
  if (channels.length > maxChannels)
    throw new HoldfastServerError('too_many_subscriptions', `at most ${maxChannels} channels per request`)
  const since = parseCursorMap(cursorMap ?? '')
  if (since === null)
    throw new HoldfastServerError(
      'invalid_cursor',
      'the cursor map must look like "chan=epoch:offset,chan2=epoch:offset"',
    )
  return { channels, since }
}
