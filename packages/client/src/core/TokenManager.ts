import { HoldfastError } from '../HoldfastError'

export type GetToken = () => Promise<string | null | undefined> | string | null | undefined

/** Reads `exp` (seconds) from a JWT without verifying it; the server verifies. */
export function jwtExpiresAtMs(token: string): number | undefined {
  try {
    // The payload is base64url JSON. Only the ASCII `exp` claim is read, so the bytes need no UTF-8
    // decoding: multi-byte characters can only sit inside JSON strings, which parse either way.
    const payload = token.split('.')[1]!
    const exp: unknown = JSON.parse(
      atob(
        payload
          .replace(/-/g, '+')
          .replace(/_/g, '/')
          .padEnd(Math.ceil(payload.length / 4) * 4, '='),
      ),
    ).exp
    return Number.isFinite(exp) ? (exp as number) * 1000 : undefined
  } catch {
    // No payload, or not base64 JSON: treat the token as not expiring.
    return undefined
  }
}

/**
 * Holds the current token. `get()` is single-flight: concurrent callers share one `getToken()` call.
 * A token within `marginMs` of its `exp` counts as stale and is fetched anew.
 */
export class TokenManager {
  #token: string | undefined
  #refreshAt: number | undefined
  #stale = true
  #inflight: Promise<string | undefined> | undefined

  readonly #getToken: GetToken | undefined
  readonly #now: () => number
  readonly #marginMs: number

  constructor(getToken: GetToken | undefined, now: () => number, marginMs: number) {
    this.#getToken = getToken
    this.#now = now
    this.#marginMs = marginMs
  }

  /** Milliseconds since epoch when the current token must be refreshed, if it expires. */
  get refreshAtMs(): number | undefined {
    return this.#refreshAt
  }

  invalidate(): void {
    this.#stale = true
  }

  async get(): Promise<string | undefined> {
    const refreshAt = this.refreshAtMs
    const fresh =
      !this.#stale && this.#token !== undefined && (refreshAt === undefined || this.#now() < refreshAt)
    // Without getToken there is never a token: resolve undefined at once.
    return fresh || !this.#getToken ? this.#token : this.fetch()
  }

  /** Fetches a new token even if the current one looks fresh (still single-flight). */
  fetch(): Promise<string | undefined> {
    const getToken = this.#getToken
    if (!getToken) return Promise.resolve(undefined)
    if (this.#inflight) return this.#inflight
    const flight = (async () => {
      try {
        const value = await getToken()
        if (value !== null && value !== undefined && typeof value !== 'string') {
          throw new HoldfastError('unauthorized', 'getToken() must resolve to a string, null or undefined')
        }
        this.#token = value ?? undefined
        const expiresAt = value ? jwtExpiresAtMs(value) : undefined
        // The margin is at most half the token's lifetime, so short-lived tokens are not refreshed in a tight loop.
        this.#refreshAt =
          expiresAt === undefined
            ? undefined
            : expiresAt - Math.min(this.#marginMs, Math.max(0, expiresAt - this.#now()) / 2)
        this.#stale = false
        return this.#token
      } catch (error) {
        throw error instanceof HoldfastError
          ? error
          : new HoldfastError('unauthorized', 'getToken() failed', { cause: error })
      }
    })()
    // Cleared once settled, not in a `finally`: a getToken that throws synchronously settles the flight
    // before it is stored, and a `finally` would then leave the failure cached for good.
    const clear = () => {
      if (this.#inflight === flight) this.#inflight = undefined
    }
    flight.then(clear, clear)
    this.#inflight = flight
    return flight
  }
}
