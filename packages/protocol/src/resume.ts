import { type Cursor, comparePositions, formatPosition, type Position, parseCursor } from './cursor'

/** What a server knows of one channel's log when a client asks to resume it. */
export interface LogBounds {
  epoch: string
  /** The newest message (`{0,0}` for an empty log). */
  head: Position
  /** Everything up to and including this position has been trimmed (`{0,0}` when nothing was). */
  trimmedThrough: Position
}

/** Where a (re)subscription starts: PROTOCOL.md §1, "Resume". */
export interface ResumePoint {
  /** False when `since` could not be honoured in full (other epoch, trimmed, malformed, or past the head). */
  recovered: boolean
  /** The cursor the replay starts after: `since` when recovered, the head without `since`, else the trim point. */
  from: Cursor
  /** `from` as a position. */
  after: Position
}

/**
 * The one resume rule, used by every broker and the test kit. Without `since` a subscription starts at
 * the head (nothing replayed). With `since` it is recovered when `since` has the log's epoch and lies
 * between the trim point and the head (both included); otherwise the replay starts after the trim point,
 * that is, from the oldest message kept, and the client is told `recovered: false`.
 */
export function resolveResume(since: Cursor | undefined, log: LogBounds): ResumePoint {
  if (since === undefined)
    return { recovered: true, from: formatPosition(log.epoch, log.head), after: log.head }
  const at = parseCursor(since)
  if (
    at &&
    at.epoch === log.epoch &&
    comparePositions(at, log.head) <= 0 &&
    comparePositions(at, log.trimmedThrough) >= 0
  )
    return { recovered: true, from: since, after: at }
  return { recovered: false, from: formatPosition(log.epoch, log.trimmedThrough), after: log.trimmedThrough }
}
