// The suite against the reference server with the Redis broker (a throwaway redis-server from
// test-support/redisGlobalSetup.ts; without redis-server this file is skipped locally and fails in CI).
import { randomUUID } from 'node:crypto'
import { createServer, type HoldfastServer, type RedisBroker, redisBroker } from '@holdfast/server'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, inject } from 'vitest'
import { type ConformanceReport, runConformance } from '../src'
import { describeChecks } from './expectConformance'
import { SECRET, SERVER_TIMINGS, serverOptions } from './targets'

const redisUrl = inject('redisUrl')
const keyPrefix = `conformance:${randomUUID()}:`

let server: HoldfastServer
let broker: RedisBroker
let redis: Redis
let closing: Promise<void> | undefined
let report: ConformanceReport

describe.skipIf(!redisUrl)('the reference server, Redis broker', () => {
  beforeAll(async () => {
    broker = redisBroker({ url: redisUrl!, keyPrefix })
    await broker.ready()
    redis = new Redis(redisUrl!, { maxRetriesPerRequest: 1 })
    server = createServer(serverOptions({ broker }))
    await server.listen(0, { host: '127.0.0.1' })
    report = await runConformance({
      url: server.url!,
      secret: SECRET,
      refusedOrigin: 'https://refused.example',
      timings: SERVER_TIMINGS,
      // What an expired or evicted stream looks like to the broker: the log and its epoch are gone.
      loseHistory: async (channel) => {
        await redis.del(`${keyPrefix}{${channel}}:log`, `${keyPrefix}{${channel}}:meta`)
      },
      drain: () => {
        closing = server.close({ drainMs: 500, timeoutMs: 8000 })
      },
    })
  })

  afterAll(async () => {
    await (closing ?? server?.close())
    await broker?.close()
    await redis?.quit().catch(() => redis.disconnect())
  })

  describeChecks(() => report, {
    // Run against a rate-limited server in memoryServer.test.ts; the broker plays no part in it.
    'errors.rate-limited': { status: 'not-run', needs: '--connection-rate-burst' },
  })
})
