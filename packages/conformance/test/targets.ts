import type { ServerOptions } from '@holdfast/server'
import type { ServerTimings } from '../src'

export const SECRET = 'conformance-secret-conformance-secret'

/** Short server timers so the checks that wait for them stay quick; the suite is told the same numbers. */
export const SERVER_TIMINGS: Required<ServerTimings> = {
  handshakeTimeoutMs: 1000,
  tokenGraceMs: 1000,
  sseHeartbeatMs: 500,
  pingIntervalMs: 500,
}

export function serverOptions(extra: Partial<ServerOptions> = {}): ServerOptions {
  return {
    auth: { secret: SECRET, expiryGraceMs: SERVER_TIMINGS.tokenGraceMs },
    limits: {
      handshakeTimeoutMs: SERVER_TIMINGS.handshakeTimeoutMs,
      pingIntervalMs: SERVER_TIMINGS.pingIntervalMs,
    },
    sse: { heartbeatMs: SERVER_TIMINGS.sseHeartbeatMs },
    ...extra,
  }
}
