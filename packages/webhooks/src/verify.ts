import { decodeBase64 } from './base64'
import { decodeSecret, toSecretList, type WebhookSecret } from './generateSecret'
import { getHeaderValues, type HeadersLike } from './getHeader'
import { hmacSha256, signedContent, toBytes } from './sign'
import { timingSafeEqual } from './timingSafeEqual'
import { WebhookVerificationError } from './WebhookVerificationError'

/** The replay window Standard Webhooks recommends: five minutes either way. */
export const DEFAULT_TOLERANCE_SEC = 300

export interface VerifyOptions {
  /** Request headers: a `Headers` instance, Node's `req.headers`, or a plain object in any case. */
  headers: HeadersLike
  /**
   * The body exactly as received. Never a re-serialised `JSON.parse` result: one changed space
   * breaks the signature. Strings are read as UTF-8.
   */
  rawBody: string | Uint8Array | ArrayBuffer
  /** One secret, or several while rotating keys; the delivery is valid when any of them matches. */
  secret: WebhookSecret | readonly WebhookSecret[]
  /** How far `webhook-timestamp` may be from now, in seconds, in either direction. Defaults to 300. */
  toleranceSec?: number
  /** Clock in milliseconds since the epoch. Defaults to `Date.now`. */
  now?: () => number
}

/** A delivery whose signature and timestamp checked out. */
export interface VerifiedWebhook {
  /** `webhook-id`: the idempotency key; the same on every retry of one message. */
  id: string
  /** `webhook-timestamp`, Unix seconds of this attempt. */
  timestamp: number
  /** The verified body bytes. */
  rawBody: Uint8Array
  /** The body decoded as UTF-8. */
  text(): string
  /** The body parsed as JSON; throws `WebhookVerificationError` with code `invalid_payload` if it is not JSON. */
  json<T = unknown>(): T
}

const MAX_TIMESTAMP_SEC = 1e11
const decoder = new TextDecoder()

function singleHeader(headers: HeadersLike, name: string): string | undefined {
  const values = getHeaderValues(headers, name)
    .map((value) => value.trim())
    .filter((value) => value.length > 0)
  if (values.length === 0) return undefined
  if (new Set(values).size > 1) {
    throw new WebhookVerificationError(
      'invalid_header',
      `[holdfast] the ${name} header appears more than once`,
    )
  }
  return values[0]
}

function parseSignatures(values: readonly string[]): Uint8Array[] {
  const candidates: Uint8Array[] = []
  for (const value of values) {
    // Repeated headers arrive joined with ", " from a Headers instance, hence the trailing-comma trim.
    for (const token of value.split(/\s+/)) {
      const entry = token.replace(/,$/, '')
      const comma = entry.indexOf(',')
      if (comma < 0 || entry.slice(0, comma) !== 'v1') continue
      const bytes = decodeBase64(entry.slice(comma + 1))
      if (bytes) candidates.push(bytes)
    }
  }
  return candidates
}

/**
 * Checks a Standard Webhooks delivery: required headers, timestamp within `toleranceSec` either way
 * (replay guard), then the HMAC-SHA256 signature over the raw body bytes, compared in constant time
 * against every `v1` signature and every secret. Resolves to the verified delivery; rejects with a
 * `WebhookVerificationError` whose `code` is `missing_header`, `invalid_header`, `timestamp_too_old`,
 * `timestamp_too_new`, `invalid_signature` or `invalid_secret`. Never returns a bare boolean.
 *
 * @example
 * try {
 *   const webhook = await verify({ headers: req.headers, rawBody, secret: process.env.WEBHOOK_SECRET })
 *   await enqueue(webhook.id, webhook.json())
 * } catch (error) {
 *   if (error instanceof WebhookVerificationError) return reply(401, { code: error.code })
 *   throw error
 * }
 */
export async function verify(options: VerifyOptions): Promise<VerifiedWebhook> {
  const toleranceSec = options.toleranceSec ?? DEFAULT_TOLERANCE_SEC
  if (!Number.isFinite(toleranceSec) || toleranceSec < 0) {
    throw new WebhookVerificationError(
      'invalid_options',
      `[holdfast] verify({ toleranceSec }) must be a non-negative number, got ${toleranceSec}`,
    )
  }
  const id = singleHeader(options.headers, 'webhook-id')
  const timestampText = singleHeader(options.headers, 'webhook-timestamp')
  const signatureValues = getHeaderValues(options.headers, 'webhook-signature').filter((v) => v.trim() !== '')
  const missing = [
    id === undefined && 'webhook-id',
    timestampText === undefined && 'webhook-timestamp',
    signatureValues.length === 0 && 'webhook-signature',
  ].filter(Boolean)
  if (id === undefined || timestampText === undefined || missing.length > 0) {
    throw new WebhookVerificationError(
      'missing_header',
      `[holdfast] missing webhook header(s): ${missing.join(', ')}`,
    )
  }

  if (!/^\d+$/.test(timestampText) || Number(timestampText) >= MAX_TIMESTAMP_SEC) {
    throw new WebhookVerificationError(
      'invalid_header',
      `[holdfast] webhook-timestamp must be Unix seconds, got ${JSON.stringify(timestampText.slice(0, 32))}`,
    )
  }
  const timestamp = Number(timestampText)
  const nowSec = Math.floor((options.now ?? Date.now)() / 1000)
  if (nowSec - timestamp > toleranceSec) {
    throw new WebhookVerificationError(
      'timestamp_too_old',
      `[holdfast] webhook-timestamp is ${nowSec - timestamp} s old, more than the ${toleranceSec} s tolerance (a replay, or a slow clock on one side)`,
    )
  }
  if (timestamp - nowSec > toleranceSec) {
    throw new WebhookVerificationError(
      'timestamp_too_new',
      `[holdfast] webhook-timestamp is ${timestamp - nowSec} s in the future, more than the ${toleranceSec} s tolerance (check the clocks)`,
    )
  }

  const keys = toSecretList(options.secret).map((secret) => decodeSecret(secret, 1))
  const rawBody = toBytes(options.rawBody)
  const candidates = parseSignatures(signatureValues)
  if (candidates.length > 0) {
    const content = signedContent(id, timestamp, rawBody)
    for (const key of keys) {
      const expected = await hmacSha256(key, content)
      for (const candidate of candidates) {
        if (timingSafeEqual(expected, candidate)) return verifiedWebhook(id, timestamp, rawBody)
      }
    }
  }
  throw new WebhookVerificationError(
    'invalid_signature',
    candidates.length === 0
      ? '[holdfast] webhook-signature holds no v1 signature'
      : '[holdfast] no webhook signature matches the secret(s): check the secret and that the body is passed untouched',
  )
}

function verifiedWebhook(id: string, timestamp: number, rawBody: Uint8Array): VerifiedWebhook {
  return {
    id,
    timestamp,
    rawBody,
    text: () => decoder.decode(rawBody),
    json<T>(): T {
      try {
        return JSON.parse(decoder.decode(rawBody)) as T
      } catch (error) {
        throw new WebhookVerificationError(
          'invalid_payload',
          '[holdfast] the webhook body is not valid JSON',
          {
            cause: error,
          },
        )
      }
    },
  }
}
