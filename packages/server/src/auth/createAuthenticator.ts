import { errors, jwtVerify } from 'jose'
import type { Clock } from '../Clock'

export interface AuthOptions {
  /** HS256 secret that signs the JWTs. Without `auth` the server runs open (development only). */
  secret: string | Uint8Array
  /** How long a WebSocket may stay after its token expired, waiting for an `auth` frame. Defaults to 5000. */
  expiryGraceMs?: number
  /** When set, the token's `iss` must equal it. */
  issuer?: string
  /** When set, the token's `aud` must include it. */
  audience?: string
  /** Clock skew tolerated when checking `exp` and `nbf`, in seconds. Defaults to 0. */
  clockToleranceSec?: number
  /**
   * With the default `authorize`, refuse (`forbidden`) every channel to a token without a `channels` claim.
   * Defaults to false: a token without the claim may use every channel. See `authorizeByChannelsClaim`.
   */
  requireChannelsClaim?: boolean
}

/** The verified claims of the caller's JWT, or `null` when the server runs open. */
export type AuthUser = {
  sub?: string
  exp?: number
  [claim: string]: unknown
} | null

export type VerifyResult =
  | { ok: true; user: AuthUser; expiresAtMs: number | undefined }
  | { ok: false; code: 'unauthorized' | 'token_expired'; message: string }

export interface Authenticator {
  /** False when the server runs open: every caller is let in as `null`. */
  readonly enabled: boolean
  verify(token: string | undefined): Promise<VerifyResult>
}

/** Verifies HS256 JWTs. Messages say what was wrong but never echo the token. */
export function createAuthenticator(options: AuthOptions | undefined, clock: Clock): Authenticator {
  if (!options) {
    return { enabled: false, verify: async () => ({ ok: true, user: null, expiresAtMs: undefined }) }
  }
  // `resolveOptions` has checked the secret (set, long enough) with a message that says how to fix it.
  const key = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
  return {
    enabled: true,
    async verify(token) {
      if (!token) return { ok: false, code: 'unauthorized', message: 'a token is required' }
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          currentDate: new Date(clock.now()),
          clockTolerance: options.clockToleranceSec ?? 0,
          ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
          ...(options.audience === undefined ? {} : { audience: options.audience }),
        })
        return {
          ok: true,
          user: payload as Exclude<AuthUser, null>,
          expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
        }
      } catch (error) {
        if (error instanceof errors.JWTExpired)
          return { ok: false, code: 'token_expired', message: 'the token expired' }
        if (error instanceof errors.JOSEError)
          return { ok: false, code: 'unauthorized', message: `invalid token (${error.code})` }
        throw error
      }
    },
  }
}

/** Reads `Authorization: Bearer <token>`; undefined when absent or of another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}
