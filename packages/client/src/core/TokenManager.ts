import { HoldfastError } from '../HoldfastError'
import { Timer, type Timers } from './timers'

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
 * A token within `marginMs` of its `exp` counts as stale and is fetched anew. A call that does not settle
 * within `timeoutMs` fails with `timeout` and is abandoned (as by `abandon()`): the next caller asks anew.
 */
export class TokenManager {
  /** The last token getToken() gave. */
  token: string | undefined
  #stale = true
  #inflight: Promise<string | undefined> | undefined
  /** Answers in a row that were no use (the same token again, or one about to expire): the refresh backs off. */
  #useless = 0

  readonly #getToken: GetToken | undefined
  readonly #now: () => number
  readonly #marginMs: number
  readonly #timer: Timer
  readonly #timeoutMs: number

  constructor(
    getToken: GetToken | undefined,
    now: () => number,
    marginMs: number,
    timers: Timers,
    timeoutMs: number,
  ) {
    this.#getToken = getToken
    this.#now = now
    this.#marginMs = marginMs
    this.#timer = new Timer(timers)
    this.#timeoutMs = timeoutMs
  }

  /** Milliseconds since epoch when the current token must be refreshed, if it expires. */
  refreshAtMs: number | undefined

  invalidate(): void {
    this.#stale = true
  }

  /** Forgets a `getToken()` call still pending (after `close()`): its callers are gone, the next one asks anew. */
  abandon(): void {
    this.#inflight = undefined
    this.#timer.cancel()
  }

  async get(): Promise<string | undefined> {
    const refreshAt = this.refreshAtMs
    const fresh =
      !this.#stale && this.token !== undefined && (refreshAt === undefined || this.#now() < refreshAt)
    // Without getToken there is never a token: resolve undefined at once.
    return fresh || !this.#getToken ? this.token : this.fetch()
  }

  /** Fetches a new token even if the current one looks fresh (still single-flight). */
  fetch(): Promise<string | undefined> {
    const getToken = this.#getToken
    const ms = this.#timeoutMs
    if (!getToken) return Promise.resolve(undefined)
    if (this.#inflight) return this.#inflight
    // Cleared once settled (or timed out), so a failure is never cached: the next caller asks anew.
    const done = () => this.#inflight === flight && this.abandon()
    const flight: Promise<string | undefined> = new Promise<unknown>((resolve, reject) => {
      this.#timer.start(ms, () => reject(new HoldfastError('timeout', `getToken() took over ${ms} ms`)))
      // A getToken that throws synchronously rejects like one that rejects; the timeout can still reject a
      // getToken that never settles (resolving with it directly would lock the flight to it).
      new Promise((r) => r(getToken())).then(resolve, reject)
    }).then(
      (value) => {
        done()
        if (value != null && typeof value !== 'string')
          throw new HoldfastError('bad_request', 'getToken() must resolve to a string, null or undefined')
        const now = this.#now()
        const expiresAt = value ? jwtExpiresAtMs(value) : undefined
        // The same token again, or one with under a second left: asking again soon would get the same answer.
        this.#useless = value === this.token || expiresAt! < now + 1000 ? this.#useless + 1 : 0
        this.token = value ?? undefined
        // The margin is at most half the token's lifetime; the next refresh is at least 1 s away, doubling
        // (up to 32 s) while the answers are no use: never a tight loop, whatever getToken returns.
        this.refreshAtMs =
          expiresAt &&
          Math.max(
            now + 1000 * 2 ** Math.min(5, this.#useless),
            expiresAt - Math.min(this.#marginMs, (expiresAt - now) / 2),
          )
        this.#stale = false
        return this.token
      },
      (error: unknown) => {
        done()
        throw HoldfastError.from(error, 'unauthorized')
      },
    )
    this.#inflight = flight
    return flight
  }
}
