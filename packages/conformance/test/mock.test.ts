// The suite against @holdfast/testing's msw mock, in-process: msw patches the global fetch and
// WebSocket, and the suite is handed those.
import { createHoldfastMock } from '@holdfast/testing'
import { setupServer } from 'msw/node'
import { afterAll, beforeAll, describe } from 'vitest'
import { type ConformanceReport, runConformance, type WebSocketConstructor } from '../src'
import { describeChecks } from './expectConformance'
import { SERVER_TIMINGS } from './targets'

const URL = 'http://conformance.test'
const mock = createHoldfastMock({
  url: URL,
  sseHeartbeatMs: SERVER_TIMINGS.sseHeartbeatMs,
  handshakeTimeoutMs: SERVER_TIMINGS.handshakeTimeoutMs,
})
const server = setupServer(...mock.handlers)
let report: ConformanceReport

beforeAll(async () => {
  server.listen({ onUnhandledRequest: 'error' })
  report = await runConformance({
    url: URL,
    // Read after listen(): that is when msw replaces them.
    fetch: (input, init) => globalThis.fetch(input, init),
    WebSocket: globalThis.WebSocket as unknown as WebSocketConstructor,
    loseHistory: (channel) => mock.loseHistory(channel),
    drain: () => {
      mock.drain({ retryAfterMs: 1500 })
    },
    timings: SERVER_TIMINGS,
  })
})

afterAll(() => {
  mock.reset()
  server.close()
})

describe('@holdfast/testing (msw mock)', () => {
  // The mock checks no token signature and has no clock on tokens (its README says so): the token
  // checks need a server that verifies JWTs. msw's WebSocket does not expose protocol pings.
  describeChecks(() => report, {
    'errors.unauthorized': { status: 'not-run', needs: 'a server that requires tokens' },
    'errors.token-expired': { status: 'not-run', needs: 'a server that requires tokens' },
    'errors.origin': { status: 'not-run', needs: '--refused-origin' },
    // The mock has no connection rate limit (its README says so).
    'errors.rate-limited': { status: 'not-run', needs: '--connection-rate-burst' },
    'ws.handshake.token-expires-at': { status: 'not-run', needs: 'a server that requires tokens' },
    'ws.handshake.refused-token': { status: 'not-run', needs: 'a server that requires tokens' },
    'ws.handshake.expired-token': { status: 'not-run', needs: 'a server that requires tokens' },
    'ws.liveness.server-ping': { status: 'not-run', needs: 'exposes protocol pings' },
    'ws.auth.refused': { status: 'not-run', needs: 'a server that requires tokens' },
    'ws.token.expiry': { status: 'not-run', needs: 'a server that requires tokens' },
    'ws.token.refresh': { status: 'not-run', needs: 'a server that requires tokens' },
    'sse.token-expiry': { status: 'not-run', needs: 'a server that requires tokens' },
  })
})
