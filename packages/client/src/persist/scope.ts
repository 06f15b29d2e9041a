import type { GetToken } from '../core/TokenManager'

/** What decides who a client is for. */
export interface ScopeOptions {
  url: string
  getToken?: GetToken
  /** The user this client is for. Defaults to the `sub` of the token `getToken` returns. */
  user?: string
}

/** Scopes computed once for a client, handed from a subclass's constructor to its base (see `shareScope`). */
const known = new WeakMap<object, Promise<string | undefined>>()

/**
 * Who a client is for, as `<url> <user>`: tabs share a connection, and storage is kept, per scope, so tabs
 * of different users never share and one user never reads another's cursors or sends another's publishes.
 * The user is `options.user`, else the `sub` of the token `getToken` returns (one call), else `anonymous`
 * when there is no `getToken` at all (a server without users). `undefined` when a `getToken` gave no token
 * with a `sub`: the user is unknown, so nothing may be shared or kept.
 */
export function scopeOf(options: ScopeOptions): Promise<string | undefined> {
  let scope = known.get(options)
  if (!scope) {
    scope = (async () => {
      let user = options.user
      if (user === undefined && options.getToken) {
        try {
          user = jwtSubject((await options.getToken()) ?? '')
        } catch {}
        if (user === undefined) return undefined
      }
      return `${options.url} ${user ?? 'anonymous'}`
    })()
    known.set(options, scope)
  }
  return scope
}

/** Lets `options` (a derived options object) share a scope already being computed. */
export function shareScope(options: object, scope: Promise<string | undefined>): void {
  known.set(options, scope)
}

/**
 * The `sub` claim of a JWT, unverified (only to tell users apart; the server verifies the token). Decoded
 * like `jwtExpiresAtMs` in core/TokenManager.ts, which the root entry keeps to itself.
 */
function jwtSubject(token: string): string | undefined {
  const payload = token.split('.')[1]
  if (!payload) return
  // A token that is not a JWT throws here, and counts as no `sub`.
  const sub: unknown = JSON.parse(
    atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    ),
  ).sub
  return typeof sub === 'string' ? sub : undefined
}
