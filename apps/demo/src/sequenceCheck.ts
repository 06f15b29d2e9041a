import type { Cursor } from '@holdfast/client'

/** What a page saw of the server's numbered sequence. */
export interface SequenceReport {
  /** Messages of the sequence received. */
  received: number
  /** The first and the last number received in the server's current epoch (the check starts at the first). */
  first: number | undefined
  last: number | undefined
  /** Numbers that never arrived and no gap accounts for: the claim is that this stays 0. */
  lost: number
  /** Numbers that arrived twice: the claim is that this stays 0. */
  duplicated: number
  /** Numbers skipped where the client reported a gap (the server no longer had them, and said so). */
  skippedInGaps: number
}

/**
 * Checks the demo server's sequence (`demo.seq`: 1, 2, 3, … one number after another) as a page receives
 * it: every number once, in order. A gap the client reported explains the numbers skipped right after it.
 * A new epoch (the server restarted and lost its history) starts the count afresh: numbers of two
 * incarnations cannot be compared.
 */
export class SequenceCheck {
  readonly report: SequenceReport = {
    received: 0,
    first: undefined,
    last: undefined,
    lost: 0,
    duplicated: 0,
    skippedInGaps: 0,
  }
  #epoch: string | undefined
  #gapReported = false

  /** The client reported a gap on the channel: what is skipped next is accounted for. */
  gap(): void {
    this.#gapReported = true
  }

  push(cursor: Cursor, seq: number): void {
    const r = this.report
    r.received++
    const epoch = cursor.slice(0, cursor.indexOf(':'))
    if (epoch !== this.#epoch || r.last === undefined) {
      this.#epoch = epoch
      this.#gapReported = false
      r.first = r.last = seq
      return
    }
    if (seq <= r.last) {
      r.duplicated++
      return
    }
    const missing = seq - r.last - 1
    if (this.#gapReported) r.skippedInGaps += missing
    else r.lost += missing
    this.#gapReported = false
    r.last = seq
  }
}
