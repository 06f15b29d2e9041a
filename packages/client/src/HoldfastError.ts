import { type ErrorCode, isErrorCode } from '@holdfast/protocol'

export type { ErrorCode }

/** Codes after which the same request may succeed if sent again on a new connection. */
const RETRYABLE = new Set<ErrorCode>([
  'disconnected',
  'not_connected',
  'timeout',
  'rate_limited',
  'server_restart',
])

/**
 * The one error type the client reports. `code` is stable (see docs/PROTOCOL.md, "Errors");
 * `cause` keeps whatever was underneath.
 */
export class HoldfastError extends Error {
  readonly code: ErrorCode
  /** Server-requested minimum delay before retrying, when it sent one. */
  readonly retryAfterMs: number | undefined
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(`[holdfast] ${message}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HoldfastError'
    this.code = code
    this.retryAfterMs = options.retryAfterMs
  }

  /** True when sending the same request again later may succeed. */
  get retryable(): boolean {
    return RETRYABLE.has(this.code)
  }

  /** Wraps anything thrown into a `HoldfastError`, keeping it as `cause`. */
  static from(value: unknown, fallback: ErrorCode = 'internal'): HoldfastError {
    if (value instanceof HoldfastError) return value
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code
      return new HoldfastError(isErrorCode(code) ? code : fallback, value.message, { cause: value })
    }
    return new HoldfastError(fallback, String(value), { cause: value })
  }
}
