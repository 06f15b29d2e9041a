import { isErrorCode } from '@holdfast/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { startServer } from './helpers/fixtures'

const channelish = fc.oneof(
  fc.constantFrom('a', 'b.c', 'x/y~z', ''),
  fc.string({ maxLength: 20 }),
  fc.stringMatching(/^[A-Za-z0-9_.:@/~-]{1,10}$/),
)
const cursorish = fc.oneof(fc.constantFrom('e:1', 'e:0', 'e:1-2', 'e:', ':1'), fc.string({ maxLength: 24 }))
const cursorMapish = fc.oneof(
  fc
    .array(fc.tuple(channelish, cursorish), { maxLength: 3 })
    .map((pairs) => pairs.map(([c, k]) => `${c}=${k}`).join(',')),
  fc.string({ maxLength: 40 }),
)
const queryish = fc.record(
  {
    channels: fc.array(channelish, { maxLength: 3 }),
    since: cursorMapish,
    timeoutMs: fc.oneof(fc.nat().map(String), fc.string({ maxLength: 6 })),
  },
  { requiredKeys: ['channels'] },
)

function toQuery(q: { channels: string[]; since?: string; timeoutMs?: string }): string {
  const params = new URLSearchParams()
  for (const c of q.channels) params.append('channel', c)
  if (q.since !== undefined) params.set('since', q.since)
  if (q.timeoutMs !== undefined) params.set('timeoutMs', q.timeoutMs)
  return params.toString()
}

async function expectTypedAnswer(response: Response, okStatuses: number[]): Promise<void> {
  if (okStatuses.includes(response.status)) {
    await response.body?.cancel()
    return
  }
  expect([400, 413]).toContain(response.status)
  const body = (await response.json()) as { error: { code: unknown; message: unknown } }
  expect(isErrorCode(body.error.code)).toBe(true)
  expect(typeof body.error.message).toBe('string')
}

describe('fuzzing the HTTP inputs', () => {
  it('answers every /poll, /sse and Last-Event-ID input with success or a typed 4xx, and keeps serving', async () => {
    const server = await startServer({ poll: { timeoutMs: 1 }, limits: { maxSubscriptionsPerConnection: 2 } })
    await fc.assert(
      fc.asyncProperty(queryish, fc.option(cursorMapish, { nil: undefined }), async (q, lastEventId) => {
        const query = toQuery(q)
        await expectTypedAnswer(await fetch(`${server.url}/poll?${query}`), [200])
        const headers: Record<string, string> = {}
        // Header values cannot carry control characters; fetch refuses them before they reach us.
        if (lastEventId !== undefined && /^[\x20-\x7e]*$/.test(lastEventId))
          headers['last-event-id'] = lastEventId
        const controller = new AbortController()
        const sse = await fetch(`${server.url}/sse?${query}`, { headers, signal: controller.signal })
        await expectTypedAnswer(sse, [200])
        controller.abort()
      }),
      { numRuns: 150, seed: 7 },
    )
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })

  it('answers every /publish body with success or a typed 4xx', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 2048 } })
    const body = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.json(),
      fc
        .record({ channel: channelish, data: fc.jsonValue() }, { requiredKeys: [] })
        .map((o) => JSON.stringify(o)),
    )
    const key = fc.option(
      fc.string({ maxLength: 30 }).filter((k) => /^[\x20-\x7e]*$/.test(k)),
      { nil: undefined },
    )
    await fc.assert(
      fc.asyncProperty(body, key, async (raw, idempotencyKey) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey
        await expectTypedAnswer(
          await fetch(`${server.url}/publish`, { method: 'POST', headers, body: raw }),
          [200],
        )
      }),
      { numRuns: 200, seed: 11 },
    )
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
  })
})
