const HEARTBEAT_RE = /^\s*hb (\d{1,16})\s*$/

/**
 * Spots a proxy that buffers an SSE stream. Holdfast heartbeats carry the server's clock
 * (`: hb <ms>`): two heartbeats sent an interval apart but received almost together were held
 * back somewhere on the way. Returns a function to feed each comment of one stream; it returns
 * true the first time buffering is detected, and only then (reported once per stream).
 */
export function bufferingDetector(now: () => number): (comment: string) => boolean {
  // NaN until the first heartbeat, so that one compares false below.
  let lastSentAt = Number.NaN
  let lastReceivedAt = 0
  let reported = false
  return (comment) => {
    const m = HEARTBEAT_RE.exec(comment)
    if (!m) return false
    const sentAt = Number(m[1])
    const receivedAt = now()
    const sentGap = sentAt - lastSentAt
    const buffered = !reported && sentGap >= 1000 && receivedAt - lastReceivedAt < sentGap / 4
    lastSentAt = sentAt
    lastReceivedAt = receivedAt
    if (buffered) reported = true
    return buffered
  }
}
