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
export class HoldfastServerError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HoldfastServerError'
    this.code = code
  }

  /** The HTTP status that fits the code (see docs/PROTOCOL.md section 2). */
  get status(): number {
    return STATUS_BY_CODE[this.code] ?? 500
  }

  /** Wraps anything thrown; unknown errors become `internal` and keep the original as `cause`. */
  static from(error: unknown): HoldfastServerError {
    if (error instanceof HoldfastServerError) return error
    if (error instanceof ProtocolError)
      return new HoldfastServerError(error.code, error.message, { cause: error })
    return new HoldfastServerError('internal', '[holdfast] internal server error', { cause: error })
  }
}
