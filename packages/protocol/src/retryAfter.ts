/**
 * Reads an HTTP `Retry-After` value (RFC 9110 §10.2.3): delay-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`), as milliseconds from `nowMs` (never negative). `undefined` when
 * absent or unreadable. The value is not capped here: whoever schedules with it clamps it.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value == null) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // Date.parse would also take "5" or "2025"; an HTTP date always names a weekday and a month.
  if (!/[a-z]{3}/i.test(text)) return undefined
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs)
}
