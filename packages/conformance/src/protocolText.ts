// The grammar of docs/PROTOCOL.md, written out again from the document rather than imported from
// @holdfast/protocol: the kit checks an implementation, so it must not share that implementation's code.

/** PROTOCOL.md §1: 1 to 200 characters of `A-Z a-z 0-9 _ - . : @ / ~`. */
export const CHANNEL_RE = /^[A-Za-z0-9_\-.:@/~]{1,200}$/

/** PROTOCOL.md §1: `<epoch>:<n>` or `<epoch>:<n>-<m>`, epoch `[A-Za-z0-9_-]{1,40}`. */
const CURSOR_RE = /^([A-Za-z0-9_-]{1,40}):(\d+)(?:-(\d+))?$/

export interface ParsedCursor {
  epoch: string
  n: number
  m: number
}

export function parseCursor(value: unknown): ParsedCursor | null {
  if (typeof value !== 'string') return null
  const match = CURSOR_RE.exec(value)
  if (!match) return null
  return { epoch: match[1]!, n: Number(match[2]), m: match[3] === undefined ? 0 : Number(match[3]) }
}

export function isCursor(value: unknown): value is string {
  return parseCursor(value) !== null
}

/** PROTOCOL.md §1 cursor map: `chan=cursor,chan=cursor`. Null when malformed. */
export function parseCursorMap(value: unknown): Map<string, string> | null {
  if (typeof value !== 'string') return null
  const map = new Map<string, string>()
  if (value === '') return map
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    if (eq <= 0) return null
    const channel = part.slice(0, eq)
    const cursor = part.slice(eq + 1)
    if (!CHANNEL_RE.test(channel) || !isCursor(cursor)) return null
    map.set(channel, cursor)
  }
  return map
}

export function formatCursorMap(entries: Array<[string, string]>): string {
  return entries.map(([channel, cursor]) => `${channel}=${cursor}`).join(',')
}

/** PROTOCOL.md §2. */
export const ERROR_CODES = new Set([
  'bad_frame',
  'bad_request',
  'message_too_large',
  'invalid_channel',
  'invalid_cursor',
  'unauthorized',
  'token_expired',
  'forbidden',
  'not_connected',
  'rate_limited',
  'slow_consumer',
  'queue_full',
  'timeout',
  'closed',
  'disconnected',
  'transport_unavailable',
  'proxy_buffering',
  'server_restart',
  'too_many_subscriptions',
  'internal',
])

/** An epoch no server has: resuming from it must come back `recovered: false`. */
export const FOREIGN_EPOCH = 'conformanceGoneEpoch'
