import { createParser } from 'eventsource-parser'
import { describe } from '../outcome'
import { Waiters } from '../wait'

export interface SseEventRecord {
  /** `event:` field; undefined for an unnamed event (a plain `EventSource.onmessage`). */
  event: string | undefined
  id: string | undefined
  data: string
  /** `data` parsed as JSON, when it is JSON. */
  json: any
}

/** A `text/event-stream` response read with eventsource-parser, recorded for checks to wait on. */
export class SseStream {
  readonly status: number
  readonly headers: Headers
  readonly events: SseEventRecord[] = []
  readonly comments: string[] = []
  readonly retries: number[] = []
  /** The whole body when the response was not a stream (an error answer). */
  body: string | undefined
  ended = false
  failure: string | undefined
  readonly #abort: AbortController
  readonly #waiters = new Waiters()
  readonly #deadlineMs: number

  private constructor(response: Response, abort: AbortController, deadlineMs: number) {
    this.status = response.status
    this.headers = response.headers
    this.#abort = abort
    this.#deadlineMs = deadlineMs
  }

  static async open(
    fetchImpl: typeof fetch,
    url: string,
    headers: Record<string, string>,
    deadlineMs: number,
  ): Promise<SseStream> {
    const abort = new AbortController()
    // msw's sse() matches on the exact Accept value; servers accept it as well.
    const response = await fetchImpl(url, {
      headers: { accept: 'text/event-stream', ...headers },
      signal: abort.signal,
    })
    const stream = new SseStream(response, abort, deadlineMs)
    const type = response.headers.get('content-type') ?? ''
    if (response.status !== 200 || !type.startsWith('text/event-stream')) {
      stream.body = await response.text().catch(() => '')
      stream.ended = true
      return stream
    }
    void stream.#read(response)
    return stream
  }

  async #read(response: Response): Promise<void> {
    const parser = createParser({
      onEvent: (event) => {
        let json: unknown
        try {
          json = JSON.parse(event.data)
        } catch {
          json = undefined
        }
        this.events.push({ event: event.event, id: event.id, data: event.data, json })
        this.#waiters.notify()
      },
      onRetry: (ms) => {
        this.retries.push(ms)
        this.#waiters.notify()
      },
      onComment: (comment) => {
        this.comments.push(comment)
        this.#waiters.notify()
      },
    })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        parser.feed(decoder.decode(value, { stream: true }))
      }
    } catch (error) {
      if (!this.#abort.signal.aborted) this.failure = (error as Error)?.message ?? String(error)
    } finally {
      this.ended = true
      this.#waiters.notify()
    }
  }

  /** The JSON error body of a refused stream. */
  get errorBody(): any {
    try {
      return this.body === undefined ? undefined : JSON.parse(this.body)
    } catch {
      return undefined
    }
  }

  /** Unnamed events: the messages. */
  get messages(): SseEventRecord[] {
    return this.events.filter((e) => e.event === undefined || e.event === 'message')
  }

  until<T>(probe: () => T | undefined, expected: string, deadlineMs = this.#deadlineMs): Promise<T> {
    return this.#waiters.until(probe, expected, () => this.summary(), deadlineMs)
  }

  /** Waits for `count` message events in all. */
  messageCount(count: number, expected: string): Promise<SseEventRecord[]> {
    return this.until(() => (this.messages.length >= count ? this.messages : undefined), expected)
  }

  summary(): string {
    if (this.body !== undefined) return `HTTP ${this.status} ${describe(this.body)}`
    const parts = this.events.slice(-6).map((e) => {
      const head = [e.event ? `event: ${e.event}` : '', e.id === undefined ? '' : `id: ${e.id}`]
        .filter(Boolean)
        .join(' ')
      return `{${head}${head ? ' ' : ''}data: ${describe(e.data)}}`
    })
    if (this.events.length > 6) parts.unshift(`(${this.events.length - 6} earlier events)`)
    if (this.ended) parts.push(this.failure ? `stream failed: ${this.failure}` : 'stream ended')
    return parts.length > 0 ? parts.join(' | ') : 'no events'
  }

  /** Drops the connection, as a network cut would. */
  cut(): void {
    this.#abort.abort()
  }
}
