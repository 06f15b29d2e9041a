import type { CheckContext, HttpAnswer } from '../context'
import { expectThat } from '../outcome'
import { ERROR_CODES } from '../protocolText'

/** The headings of docs/PROTOCOL.md the checks read, in the document's order. */
export const Section = {
  Endpoints: 'Endpoints',
  Cursors: '§1 Channels, cursors, epochs',
  Errors: '§2 Errors',
  Handshake: '§3 WebSocket: handshake',
  Frames: '§3 WebSocket: client and server frames',
  Ordering: '§3 WebSocket: ordering guarantees',
  Liveness: '§3 WebSocket: liveness',
  Tokens: '§3 WebSocket: tokens',
  Limits: '§3 WebSocket: limits',
  EdgeCases: '§3 WebSocket: edge cases',
  Sse: '§4 Server-Sent Events',
  Poll: '§5 Long polling',
  Publish: '§6 Publishing over HTTP',
  Drain: '§7 Draining and restarts',
} as const

export const SECTION_ORDER: readonly string[] = Object.values(Section)

/** One conformance check: a named behaviour of PROTOCOL.md, tried on the wire. */
export interface Check {
  /** Stable id, e.g. `sse.last-event-id`; `--only` selects by prefix. */
  id: string
  section: string
  title: string
  /** Runs after every other check, alone: it ends the server (drain). */
  last?: boolean
  run(ctx: CheckContext): Promise<void>
}

/** PROTOCOL.md §2: `{"error":{"code","message"}}` with the status that fits. */
export function expectHttpError(answer: HttpAnswer, status: number, code: string, what: string): void {
  expectThat(
    answer.status === status &&
      answer.json?.error?.code === code &&
      typeof answer.json.error.message === 'string' &&
      ERROR_CODES.has(code),
    `${what}: HTTP ${status} {"error":{"code":"${code}","message":"…"}}`,
    `HTTP ${answer.status} ${answer.text}`,
  )
}

/** The `n` of each `{ n }` payload, for comparing what arrived with what was published. */
export function payloads(items: readonly any[]): unknown[] {
  return items.map((item) => item?.data?.n ?? item?.data)
}
