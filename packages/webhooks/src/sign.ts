import { encodeBase64 } from './base64'
import { decodeSecret, MIN_SIGNING_SECRET_BYTES, toSecretList, type WebhookSecret } from './generateSecret'
import { WebhookVerificationError } from './WebhookVerificationError'

/**
 * The three Standard Webhooks headers, ready to spread into a `fetch` call. A type alias rather
 * than an interface, so it is assignable to `Record<string, string>` and `HeadersInit`.
 */
export type WebhookHeaders = {
  'webhook-id': string
  /** Unix time in seconds, as a decimal string. */
  'webhook-timestamp': string
  /** Space-separated `v1,<base64>` signatures, one per secret. */
  'webhook-signature': string
}

export interface SignOptions {
  /** Message id sent as `webhook-id`. Keep it the same across retries: receivers dedupe on it. Must not contain `.`. */
  id: string
  /** When this attempt is made: a `Date`, or Unix time in **seconds**. A new value per attempt. */
  timestamp: Date | number
  /** The exact body that will be sent. Bytes are signed as they are; strings as UTF-8. */
  payload: string | Uint8Array
  /** One `whsec_` secret, or several while rotating keys: each adds one signature. */
  secret: WebhookSecret | readonly WebhookSecret[]
}

const encoder = new TextEncoder()

// Seconds since the epoch stay below 1e11 until the year 5138; anything larger is milliseconds.
const MAX_TIMESTAMP_SEC = 1e11

export function getSubtle(): SubtleCrypto {
  const subtle = globalThis.crypto?.subtle
  if (!subtle) {
    throw new WebhookVerificationError(
      'unsupported_runtime',
      '[holdfast] Web Crypto (globalThis.crypto.subtle) is not available here; use Node 20+, a browser worker or an edge runtime (browsers expose it only in secure contexts)',
    )
  }
  return subtle
}

// `{id}.{timestamp}.{payload}` as bytes. The payload is appended as bytes, never decoded, so
// bodies that are not valid UTF-8 sign and verify exactly as sent.
export function signedContent(id: string, timestampSec: number, payload: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`${id}.${timestampSec}.`)
  const content = new Uint8Array(prefix.length + payload.length)
  content.set(prefix, 0)
  content.set(payload, prefix.length)
  return content
}

export async function hmacSha256(key: Uint8Array, content: Uint8Array): Promise<Uint8Array> {
  const subtle = getSubtle()
  const cryptoKey = await subtle.importKey(
    'raw',
    key as BufferSource,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  return new Uint8Array(await subtle.sign('HMAC', cryptoKey, content as BufferSource))
}

export function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body)
  if (body instanceof Uint8Array) return body
  return new Uint8Array(body)
}

/**
 * Signs one delivery attempt and returns its `webhook-id`, `webhook-timestamp` and
 * `webhook-signature` headers. Uses Web Crypto only, so it runs in Node, workers and edge runtimes.
 * Throws `WebhookVerificationError` (`invalid_secret`, `invalid_header`) on bad input.
 *
 * @example
 * const headers = await sign({ id: 'msg_1', timestamp: new Date(), payload: body, secret: 'whsec_…' })
 * await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })
 */
export async function sign(options: SignOptions): Promise<WebhookHeaders> {
  const { id } = options
  if (typeof id !== 'string' || id.length === 0 || id.includes('.')) {
    // A '.' would make `{id}.{timestamp}.{payload}` ambiguous, which the spec warns against.
    throw new WebhookVerificationError(
      'invalid_header',
      `[holdfast] a webhook id must be a non-empty string without '.', got ${JSON.stringify(id)}`,
    )
  }
  const timestampSec =
    options.timestamp instanceof Date ? Math.floor(options.timestamp.getTime() / 1000) : options.timestamp
  if (!Number.isSafeInteger(timestampSec) || timestampSec < 0 || timestampSec >= MAX_TIMESTAMP_SEC) {
    throw new WebhookVerificationError(
      'invalid_header',
      `[holdfast] sign({ timestamp }) takes a Date or Unix seconds, got ${String(options.timestamp)} (milliseconds? divide by 1000)`,
    )
  }
  const keys = toSecretList(options.secret).map((secret) => decodeSecret(secret, MIN_SIGNING_SECRET_BYTES))
  const content = signedContent(id, timestampSec, toBytes(options.payload))
  const signatures = await Promise.all(
    keys.map(async (key) => `v1,${encodeBase64(await hmacSha256(key, content))}`),
  )
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSec),
    'webhook-signature': signatures.join(' '),
  }
}
