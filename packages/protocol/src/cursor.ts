/**
 * A cursor names one message in one channel's log: `<epoch>:<offset>`.
 * The epoch changes when a log is lost (restart of an in-memory server, trimmed Redis stream),
 * so a client can tell a clean resume from lost history. The offset is `<n>` or `<n>-<n>`
 * (a Redis stream id) and orders messages within the epoch. `<epoch>:0` means "before the first message".
 */
export type Cursor = string

export interface ParsedCursor {
  epoch: string
  major: number
  minor: number
}

const CURSOR_RE = /^([A-Za-z0-9_-]{1,40}):(\d{1,16})(?:-(\d{1,16}))?$/

export function parseCursor(cursor: unknown): ParsedCursor | null {
  if (typeof cursor !== 'string') return null
  const m = CURSOR_RE.exec(cursor)
  if (!m) return null
  const major = Number(m[2])
  const minor = m[3] === undefined ? 0 : Number(m[3])
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return null
  return { epoch: m[1]!, major, minor }
}

export function isCursor(value: unknown): value is Cursor {
  return parseCursor(value) !== null
}

export function formatCursor(epoch: string, offset: number | string): Cursor {
  return `${epoch}:${offset}`
}

/**
 * Orders two cursors of the same epoch: negative, zero or positive.
 * Returns `NaN` when the epochs differ or either cursor is malformed; such cursors are not comparable.
 */
export function compareCursors(a: Cursor, b: Cursor): number {
  const pa = parseCursor(a)
  const pb = parseCursor(b)
  if (!pa || !pb || pa.epoch !== pb.epoch) return Number.NaN
  return comparePositions(pa, pb)
}

/** A position in one channel's log: the offset part of a cursor, without the epoch. */
export type Position = Pick<ParsedCursor, 'major' | 'minor'>

/** Orders two positions of one epoch: negative, zero or positive. The one cursor order, used everywhere. */
export function comparePositions(a: Position, b: Position): number {
  return a.major - b.major || a.minor - b.minor
}

/** The cursor of a position: `<epoch>:<major>`, or `<epoch>:<major>-<minor>` when `minor` is not 0. */
export function formatPosition(epoch: string, position: Position): Cursor {
  return `${epoch}:${position.major}${position.minor ? `-${position.minor}` : ''}`
}

export function cursorEpoch(cursor: Cursor): string | null {
  return parseCursor(cursor)?.epoch ?? null
}

/**
 * Several channels' positions in one string, used as the SSE event id, the `Last-Event-ID` header
 * and the long-poll `since` parameter: `chan=cursor,chan=cursor`. Channel names cannot hold `=` or `,`.
 */
export function formatCursorMap(map: ReadonlyMap<string, Cursor> | Record<string, Cursor>): string {
  const entries = map instanceof Map ? [...map] : Object.entries(map)
  return entries.map(([channel, cursor]) => `${channel}=${cursor}`).join(',')
}

/** Parses a cursor map; returns `null` on any malformed entry, never a partial map. */
export function parseCursorMap(value: unknown): Map<string, Cursor> | null {
  if (typeof value !== 'string') return null
  const out = new Map<string, Cursor>()
  if (value.trim() === '') return out
  if (value.length > 16_384) return null
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    if (eq <= 0) return null
    const channel = part.slice(0, eq).trim()
    const cursor = part.slice(eq + 1).trim()
    if (!isChannelName(channel) || !isCursor(cursor)) return null
    out.set(channel, cursor)
  }
  return out
}

const CHANNEL_RE = /^[A-Za-z0-9_\-.:@/~]{1,200}$/

/** Channel names: 1 to 200 characters from `A-Z a-z 0-9 _ - . : @ / ~`. */
export function isChannelName(value: unknown): value is string {
  return typeof value === 'string' && CHANNEL_RE.test(value)
}
