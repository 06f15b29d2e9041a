import type { WebSocketConstructor } from './wire/rawSocket'

/** Timings the server was configured with. Defaults are PROTOCOL.md's. */
export interface ServerTimings {
  /** How long a socket may take to send `connect` before it is closed with 4004. Defaults to 10000. */
  handshakeTimeoutMs?: number
  /** How long after `token_expired` a socket may send `auth` before it is closed with 4100. Defaults to 5000. */
  tokenGraceMs?: number
  /** Interval of SSE `: hb <ms>` comments. Defaults to 15000. */
  sseHeartbeatMs?: number
  /** Interval of WebSocket protocol pings from the server. Defaults to 25000. */
  pingIntervalMs?: number
}

/** Options of `runConformance`. Only `url` is required. */
export interface ConformanceOptions {
  /** Base URL of the server under test; `/ws`, `/sse`, `/poll`, `/publish` and `/health` hang off it. */
  url: string
  /**
   * A token the server accepts (sent as `connect.token` and `Authorization: Bearer`), allowed to
   * subscribe and publish on the run's channels. Needed by servers that require tokens, unless `secret` is given.
   */
  token?: string
  /**
   * The server's HS256 secret: the kit mints its own tokens (`sub`, `exp`), which also runs the token
   * lifecycle checks (expiry, refresh, another user). Takes precedence over `token`.
   */
  secret?: string
  /** Extra claims for minted tokens, e.g. `{ iss, aud }` when the server checks them. Defaults to none. */
  claims?: Record<string, unknown>
  /**
   * Starts the server's drain (`server.close({ drainMs })`, SIGTERM). Runs last; the server is gone
   * afterwards. Without it the §7 checks are not run.
   */
  drain?: () => unknown
  /**
   * Loses one channel's history under a live subscription, as an expired Redis stream would (for
   * `@holdfast/testing`: `mock.loseHistory`). Without it that check is not run.
   */
  loseHistory?: (channel: string) => unknown
  /** An `Origin` the server refuses (403). Without it the origin check is not run. */
  refusedOrigin?: string
  /**
   * The burst of the server's connection rate limit: it admits at most this many new connections at
   * once. Runs the rate-limit check, which opens more than that at once; run it alone (`only:
   * ['errors.rate-limited']`), since refused connections would fail other checks. Without it that check
   * is not run.
   */
  connectionRateBurst?: number
  /** Timings the server was configured with, where they differ from PROTOCOL.md's defaults. */
  timings?: ServerTimings
  /** Longest wait for anything the server should do promptly, in ms. Defaults to 10000. */
  deadlineMs?: number
  /** Defaults to the global `fetch`. Inject msw's (the patched global) to run against `@holdfast/testing`. */
  fetch?: typeof fetch
  /** Defaults to the `ws` package. Inject msw's patched `globalThis.WebSocket` to run against `@holdfast/testing`. */
  WebSocket?: WebSocketConstructor
  /** Runs only the checks whose id starts with one of these (e.g. `['ws.', 'sse.resume']`). Defaults to all. */
  only?: readonly string[]
  /** Prefix of every channel the run uses. Defaults to `conformance.<random>`, so runs never meet. */
  channelPrefix?: string
  /** Checks run at the same time. Defaults to 4. */
  concurrency?: number
  /** Called with each result as soon as it is known. */
  onResult?: (result: CheckResult) => void
}

export type CheckStatus = 'pass' | 'fail' | 'not-run'

/** The outcome of one check. */
export interface CheckResult {
  id: string
  /** The PROTOCOL.md section the check reads, e.g. `§4 Server-Sent Events`. */
  section: string
  title: string
  status: CheckStatus
  /** On failure: what PROTOCOL.md says should have happened. */
  expected?: string
  /** On failure: what came back. */
  actual?: string
  /** When not run: what the check needs. */
  needs?: string
}

/** Everything a run found. */
export interface ConformanceReport {
  url: string
  results: CheckResult[]
  passed: number
  failed: number
  notRun: number
  /** True when no check failed. */
  ok: boolean
}
