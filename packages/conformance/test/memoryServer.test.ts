// The suite against the reference server with its default in-memory broker.
import { createServer, type HoldfastServer } from '@holdfast/server'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type ConformanceReport, formatReport, runConformance } from '../src'
import { describeChecks } from './expectConformance'
import { SECRET, SERVER_TIMINGS, serverOptions } from './targets'

let server: HoldfastServer
let closing: Promise<void> | undefined
let report: ConformanceReport

beforeAll(async () => {
  server = createServer(serverOptions())
  await server.listen(0, { host: '127.0.0.1' })
  report = await runConformance({
    url: server.url!,
    secret: SECRET,
    refusedOrigin: 'https://refused.example',
    timings: SERVER_TIMINGS,
    drain: () => {
      closing = server.close({ drainMs: 500, timeoutMs: 8000 })
    },
  })
})

afterAll(async () => {
  await (closing ?? server?.close())
})

describe('the reference server, memory broker', () => {
  describeChecks(() => report, {
    // The memory broker has no way to lose a live channel's history short of a restart.
    'ws.edge.history-lost': { status: 'not-run', needs: 'loseHistory' },
    // Needs a server with a connection rate limit: run alone against one, below.
    'errors.rate-limited': { status: 'not-run', needs: '--connection-rate-burst' },
  })
})

describe('the reference server with a connection rate limit', () => {
  test('errors.rate-limited: past the limit, SSE gets 429 rate_limited with Retry-After, a WebSocket 4003', async () => {
    const limited = createServer(serverOptions({ limits: { connectionRate: { perSecond: 1, burst: 2 } } }))
    await limited.listen(0, { host: '127.0.0.1' })
    try {
      const rated = await runConformance({
        url: limited.url!,
        secret: SECRET,
        only: ['errors.rate-limited'],
        connectionRateBurst: 2,
      })
      expect(
        rated.results.map((r) => [r.id, r.status]),
        formatReport(rated),
      ).toEqual([['errors.rate-limited', 'pass']])
    } finally {
      await limited.close()
    }
  })
})
