/**
 * Stable error codes of `@holdfast/webhooks`. Verification codes come first; the rest are
 * raised by the dispatcher and the receiver helper, so one `catch` handles the whole package.
 */
export const WebhookErrorCode = {
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent or empty. */
  MissingHeader: 'missing_header',
  /** A header is present but malformed (non-numeric timestamp, repeated id, `.` in an id we sign). */
  InvalidHeader: 'invalid_header',
  /** No signature in `webhook-signature` matches any of the secrets. */
  InvalidSignature: 'invalid_signature',
  /** `webhook-timestamp` is older than the tolerance: a replay, or a badly skewed clock. */
  TimestampTooOld: 'timestamp_too_old',
  /** `webhook-timestamp` is further in the future than the tolerance. */
  TimestampTooNew: 'timestamp_too_new',
  /** A secret is not `whsec_<base64>`, is empty, or is too short to sign with. */
  InvalidSecret: 'invalid_secret',
  /** The verified body is not the JSON the receiver was told to expect. */
  InvalidPayload: 'invalid_payload',
  /** The body is larger than the receiver's `maxBodyBytes`. */
  PayloadTooLarge: 'payload_too_large',
  /** A framework parsed the body before the receiver saw the raw bytes. */
  BodyUnavailable: 'body_unavailable',
  /** An endpoint URL that cannot be parsed or is not http(s). */
  InvalidUrl: 'invalid_url',
  /** The SSRF guard refused an endpoint that resolves to a private, loopback or link-local address. */
  BlockedAddress: 'blocked_address',
  EndpointNotFound: 'endpoint_not_found',
  /** The endpoint was disabled (410 Gone or by hand); enable it before replaying. */
  EndpointDisabled: 'endpoint_disabled',
  DeliveryNotFound: 'delivery_not_found',
  InvalidOptions: 'invalid_options',
  /** The receiver's user handler threw (only surfaced with `awaitHandler: true`). */
  HandlerFailed: 'handler_failed',
  /** A backing store (Redis) failed; the caller should retry later. */
  Unavailable: 'unavailable',
  /** Web Crypto (`globalThis.crypto.subtle`) is missing in this runtime. */
  UnsupportedRuntime: 'unsupported_runtime',
  Internal: 'internal',
} as const
export type WebhookErrorCode = (typeof WebhookErrorCode)[keyof typeof WebhookErrorCode]

/**
 * The one error class of `@holdfast/webhooks`. `verify` throws it, the receiver turns it into a
 * JSON error body, and the dispatcher uses it for refused URLs and unknown ids. Branch on `code`.
 */
export class WebhookVerificationError extends Error {
  readonly code: WebhookErrorCode
  constructor(code: WebhookErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'WebhookVerificationError'
    this.code = code
  }

  /** Wraps anything thrown; unknown errors become `internal` and keep the original as `cause`. */
  static from(error: unknown): WebhookVerificationError {
    if (error instanceof WebhookVerificationError) return error
    const message = error instanceof Error ? error.message : String(error)
    return new WebhookVerificationError('internal', `[holdfast] ${message}`, { cause: error })
  }
}
