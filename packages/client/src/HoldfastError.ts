import { isErrorCode, type ErrorCode as ProtocolErrorCode } from '@holdfast/protocol'

/** The stable error codes (docs/PROTOCOL.md §2). A type only: compare `error.code` with the strings. */
export type ErrorCode = ProtocolErrorCode

/** Codes after which the same request may succeed if sent again on a new connection. */
const RETRYABLE = ' disconnected not_connected timeout rate_limited server_restart '

/**
 * The one error type the client reports. `code` is stable (see docs/PROTOCOL.md, "Errors"); `cause` keeps
 * what was underneath: the thrown error, or for a refused connection `{ status, hop }` (HTTP status, and
 * whether the Holdfast server or something in front of it answered) or `{ closeCode, reason }`.
 */
export class HoldfastError extends Error {
  // `declare`: assigned in the constructor, so no class-field code is emitted for them.
  declare readonly code: ErrorCode
  /** Server-requested minimum delay before retrying, when it sent one. */
  declare readonly retryAfterMs: number | undefined
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    // One prefix even when a message is re-wrapped under another code. No `cause` property at all when
    // there is none (not one set to undefined).
    super(
      message.startsWith('[holdfast] ') ? message : `[holdfast] ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    )
    this.code = code
    this.retryAfterMs = options.retryAfterMs
    this.name = 'HoldfastError'
  }

  /** True when sending the same request again later may succeed. */
  get retryable(): boolean {
    return RETRYABLE.includes(` ${this.code} `)
  }

  /** Wraps anything thrown into a `HoldfastError`, keeping it as `cause`. */
  static from(value: unknown, fallback: ErrorCode = 'internal'): HoldfastError {
    if (value instanceof HoldfastError) return value
    const isError = value instanceof Error
    const code = isError && (value as { code?: unknown }).code
    return new HoldfastError(isErrorCode(code) ? code : fallback, isError ? value.message : String(value), {
      cause: value,
    })
  }
}
