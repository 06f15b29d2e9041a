import type { AuthUser } from '../auth/createAuthenticator'
import { HoldfastServerError } from '../HoldfastServerError'
import type { ServerContext } from '../ServerContext'
import type { BucketState } from './RateLimiter'

/**
 * The key that per-client limits count: the user when the token names one (all of a user's connections
 * share it), else the client address.
 */
export function clientKey(user: AuthUser, address: string): string {
  return typeof user?.sub === 'string' ? `user:${user.sub}` : `addr:${address}`
}

/**
 * Counts a failed authentication against its address (`limits.authFailureRate`); once that address has
 * failed too often, the `rate_limited` error to answer instead of `401`. Successful authentications never
 * consult it, so strangers sharing an address cannot lock a valid user out.
 */
export function authFailureRefusal(ctx: ServerContext, address: string): HoldfastServerError | undefined {
  const verdict = ctx.limits.authFailures?.take(address)
  if (!verdict || verdict.allowed) return undefined
  return new HoldfastServerError(
    'rate_limited',
    `too many failed authentications from this address; retry in ${verdict.retryAfterMs} ms with a valid token`,
    { retryAfterMs: verdict.retryAfterMs },
  )
}

/**
 * Admits a new connection that has passed authentication (`limits.connectionRate`). Refused ones get
 * their own later slot, as a `rate_limited` error with `retryAfterMs` (HTTP 429; 503 is kept for draining).
 */
export function admissionRefusal(ctx: ServerContext): HoldfastServerError | undefined {
  const admission = ctx.limits.admission?.admit()
  if (!admission || admission.admitted) return undefined
  return new HoldfastServerError(
    'rate_limited',
    `too many new connections; retry in ${admission.retryAfterMs} ms`,
    { retryAfterMs: admission.retryAfterMs },
  )
}

/** A client address that already holds `limits.maxConnectionsPerAddress` open connections. */
export function addressFullRefusal(ctx: ServerContext, address: string): HoldfastServerError | undefined {
  if (!ctx.connections.isFull(address)) return undefined
  return new HoldfastServerError(
    'rate_limited',
    `too many open connections from this address (limits.maxConnectionsPerAddress is ${ctx.options.maxConnectionsPerAddress}); close one or retry later`,
    { retryAfterMs: 1000 },
  )
}

/**
 * Publish limits: the connection's own bucket (`limits.publishRate`, WebSocket only) and the client's
 * (`limits.publishRatePerClient`). A refused publish is not stored.
 */
export function publishRefusal(
  ctx: ServerContext,
  key: string,
  connectionBucket: BucketState | undefined,
): HoldfastServerError | undefined {
  const { publishPerConnection, publishPerClient } = ctx.limits
  const now = ctx.clock.now()
  let verdict =
    connectionBucket && publishPerConnection ? publishPerConnection.take(connectionBucket, now) : undefined
  if (!verdict || verdict.allowed) verdict = publishPerClient?.take(key)
  if (!verdict || verdict.allowed) return undefined
  return new HoldfastServerError(
    'rate_limited',
    `publishing too fast; retry in ${verdict.retryAfterMs} ms (limits.publishRate)`,
    { retryAfterMs: verdict.retryAfterMs },
  )
}
