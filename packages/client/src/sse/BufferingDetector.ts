const HEARTBEAT_RE = /^\s*hb (\d{1,16})\s*$/

/**
 * Spots a proxy that buffers an SSE stream. Holdfast heartbeats carry the server's clock
 * (`: hb <ms>`): two heartbeats sent an interval apart but received almost together were held
 * back somewhere on the way. Reported once per stream.
 */
export class BufferingDetector {
  private last: { sentAt: number; receivedAt: number } | undefined
  private reported = false

  constructor(private readonly now: () => number) {}

  /** Returns true the first time buffering is detected. */
  onComment(comment: string): boolean {
    const m = HEARTBEAT_RE.exec(comment)
    if (!m) return false
    const sample = { sentAt: Number(m[1]), receivedAt: this.now() }
    const previous = this.last
    this.last = sample
    if (!previous || this.reported) return false
    const sentGap = sample.sentAt - previous.sentAt
    const receivedGap = sample.receivedAt - previous.receivedAt
    if (sentGap >= 1000 && receivedGap < sentGap / 4) {
      this.reported = true
      return true
    }
    return false
  }
}
