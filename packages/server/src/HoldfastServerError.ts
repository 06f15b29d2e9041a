import { type ErrorCode, ProtocolError } from '@holdfast/protocol'

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  bad_frame: 400,
  bad_request: 400,
  invalid_channel: 400,
  invalid_cursor: 400,
  too_many_subscriptions: 400,
  message_too_large: 413,
  unauthorized: 401,
  token_expired: 401,
  forbidden: 403,
  rate_limited: 429,
  server_restart: 503,
  internal: 500,
}

/**
 * The one error type the server throws and turns into error frames and HTTP error bodies.
 * `code` is one of the protocol's stable error codes.
 */
export interface HoldfastServerErrorOptions {
  cause?: unknown
  /** When the caller may try again (`rate_limited`): `Retry-After` on HTTP, `retryAfterMs` on WebSocket. */
  retryAfterMs?: number
  /** The HTTP status, when it is not the one that fits the code (a refused connection answers 503). */
  status?: number
  /** The one channel of the request that was refused: the HTTP error body names it (PROTOCOL.md section 2). */
  channel?: string
}

export class HoldfastServerError extends Error {
  readonly code: ErrorCode
  readonly retryAfterMs: number | undefined
  /** The refused channel, when the refusal concerns one channel of the request. */
  readonly channel: string | undefined
  readonly #status: number | undefined
  constructor(code: ErrorCode, message: string, options: HoldfastServerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HoldfastServerError'
    this.code = code
    this.retryAfterMs = options.retryAfterMs
    this.channel = options.channel
    this.#status = options.status
  }

  /** The HTTP status that fits the code (see docs/PROTOCOL.md section 2). */
  get status(): number {
    return this.#status ?? STATUS_BY_CODE[this.code] ?? 500
  }

  /** `Retry-After` (whole seconds, at least 1) when the error says when to retry. */
  get headers(): Record<string, string> {
    return this.retryAfterMs === undefined
      ? {}
      : { 'Retry-After': String(Math.max(1, Math.ceil(this.retryAfterMs / 1000))) }
  }

  /** Wraps anything thrown; unknown errors become `internal` and keep the original as `cause`. */
  static from(error: unknown): HoldfastServerError {
    if (error instanceof HoldfastServerError) return error
    if (error instanceof ProtocolError)
      return new HoldfastServerError(error.code, error.message, { cause: error })
    return new HoldfastServerError('internal', '[holdfast] internal server error', { cause: error })
  }
}
