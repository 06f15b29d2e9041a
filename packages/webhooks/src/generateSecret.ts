import { decodeBase64, encodeBase64 } from './base64'
import { WebhookVerificationError } from './WebhookVerificationError'

/** A signing secret: `whsec_<base64>` as the spec serialises it, or the raw key bytes. */
export type WebhookSecret = string | Uint8Array

const SECRET_PREFIX = 'whsec_'
// Standard Webhooks: symmetric secrets are random, at least 24 bytes and at most 512.
export const MIN_SIGNING_SECRET_BYTES = 24
const MAX_SECRET_BYTES = 512

export interface GenerateSecretOptions {
  /** Number of random bytes. Defaults to 32; the spec allows 24 to 512. */
  bytes?: number
}

/** Creates a new random secret in the `whsec_<base64>` form, using Web Crypto's random source. */
export function generateSecret(options: GenerateSecretOptions = {}): string {
  const size = options.bytes ?? 32
  if (!Number.isInteger(size) || size < MIN_SIGNING_SECRET_BYTES || size > MAX_SECRET_BYTES) {
    throw new WebhookVerificationError(
      'invalid_secret',
      `[holdfast] generateSecret({ bytes }) takes an integer from ${MIN_SIGNING_SECRET_BYTES} to ${MAX_SECRET_BYTES}, got ${size}`,
    )
  }
  const bytes = new Uint8Array(size)
  globalThis.crypto.getRandomValues(bytes)
  return SECRET_PREFIX + encodeBase64(bytes)
}

// The `whsec_` prefix is optional when reading, like the reference libraries, so secrets copied
// without it still work. `minBytes` is 24 when signing (the spec's floor) and 1 when verifying,
// so we can still check deliveries from senders with shorter keys.
export function decodeSecret(secret: WebhookSecret, minBytes: number): Uint8Array {
  let bytes: Uint8Array | undefined
  if (typeof secret === 'string') {
    const body = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret
    bytes = decodeBase64(body)
    if (!bytes) {
      throw new WebhookVerificationError(
        'invalid_secret',
        '[holdfast] a webhook secret must look like whsec_<base64>; create one with generateSecret()',
      )
    }
  } else if (secret instanceof Uint8Array) {
    bytes = secret
  } else {
    throw new WebhookVerificationError(
      'invalid_secret',
      '[holdfast] a webhook secret must be a whsec_<base64> string or a Uint8Array',
    )
  }
  if (bytes.length < Math.max(1, minBytes) || bytes.length > MAX_SECRET_BYTES) {
    throw new WebhookVerificationError(
      'invalid_secret',
      `[holdfast] a webhook secret must hold ${Math.max(1, minBytes)} to ${MAX_SECRET_BYTES} bytes, this one has ${bytes.length}; create one with generateSecret()`,
    )
  }
  return bytes
}

export function toSecretList(secret: WebhookSecret | readonly WebhookSecret[]): readonly WebhookSecret[] {
  const list = Array.isArray(secret) ? (secret as readonly WebhookSecret[]) : [secret as WebhookSecret]
  if (list.length === 0) {
    throw new WebhookVerificationError('invalid_secret', '[holdfast] at least one webhook secret is required')
  }
  return list
}
