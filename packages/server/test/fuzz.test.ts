import { isErrorCode } from '@holdfast/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { connect, type Frame, startServer, TestSocket, wsUrl } from './helpers/fixtures'

// Property-based fuzzing of every input the server parses: WebSocket frames (before and after the
// handshake), /publish bodies and Idempotency-Key, /poll and /sse parameters, Last-Event-ID. Every answer
// must be a success or a typed error (never `internal`, never a 5xx), and the server must keep serving.
// About 10,300 cases per run; HOLDFAST_FUZZ_SCALE multiplies them, HOLDFAST_FUZZ_SEED replays a run.

const scale = Number(process.env.HOLDFAST_FUZZ_SCALE ?? 1)
const seed = process.env.HOLDFAST_FUZZ_SEED === undefined ? undefined : Number(process.env.HOLDFAST_FUZZ_SEED)
const runs = (n: number) => ({ numRuns: Math.round(n * scale), ...(seed === undefined ? {} : { seed }) })

const printable = (s: string) => /^[\x20-\x7e]*$/.test(s)

const channelish = fc.oneof(
  fc.constantFrom(
    'a',
    'b.c',
    'x/y~z',
    'user.1@dm:2',
    '',
    ' ',
    'a,b',
    'a=b',
    'é',
    'a'.repeat(200),
    'a'.repeat(201),
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ maxLength: 8, unit: 'binary' }),
  fc.stringMatching(/^[A-Za-z0-9_.:@/~-]{1,12}$/),
)
const cursorish = fc.oneof(
  fc.constantFrom(
    'e:0',
    'e:1',
    'e:1-2',
    'e:',
    ':1',
    'e:1-',
    'e:-1',
    'e:9007199254740993',
    'e:12345678901234567',
  ),
  fc
    .tuple(fc.stringMatching(/^[A-Za-z0-9_-]{1,41}$/), fc.nat(), fc.option(fc.nat()))
    .map(([epoch, major, minor]) => `${epoch}:${major}${minor === null ? '' : `-${minor}`}`),
  fc.string({ maxLength: 24 }),
)
const cursorMapish = fc.oneof(
  fc
    .array(fc.tuple(channelish, cursorish), { maxLength: 4 })
    .map((pairs) => pairs.map(([c, k]) => `${c}=${k}`).join(',')),
  fc.constantFrom(
    '',
    ',',
    '=',
    'a=',
    '=e:1',
    'a=e:1,',
    'a=e:1,a=e:2',
    ` a = e:1 `,
    `a=${'e:1,'.repeat(500)}`,
  ),
  fc.string({ maxLength: 40 }),
)
const timeoutish = fc.oneof(
  fc.nat({ max: 5 }).map(String),
  fc.constantFrom('-1', '1e3', '0x10', '999999999', '9999999999', '', ' 1', '1.5'),
  fc.string({ maxLength: 6 }),
)
const queryish = fc.record(
  {
    channels: fc.array(channelish, { maxLength: 4 }),
    since: fc.oneof(cursorMapish, fc.array(cursorMapish, { minLength: 2, maxLength: 2 })),
    timeoutMs: timeoutish,
    extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
  },
  { requiredKeys: ['channels'] },
)

function toQuery(q: {
  channels: string[]
  since?: string | string[]
  timeoutMs?: string
  extra?: Record<string, string>
}): string {
  const params = new URLSearchParams()
  for (const c of q.channels) params.append('channel', c)
  for (const s of q.since === undefined ? [] : Array.isArray(q.since) ? q.since : [q.since])
    params.append('since', s)
  if (q.timeoutMs !== undefined) params.set('timeoutMs', q.timeoutMs)
  for (const [k, v] of Object.entries(q.extra ?? {})) params.append(k, v)
  return params.toString()
}

async function expectTypedAnswer(response: Response): Promise<void> {
  if (response.status === 200) {
    await response.body?.cancel()
    return
  }
  expect([400, 403, 413]).toContain(response.status)
  const body = (await response.json()) as { error: { code: unknown; message: unknown } }
  expect(isErrorCode(body.error.code)).toBe(true)
  expect(body.error.code).not.toBe('internal')
  expect(typeof body.error.message).toBe('string')
}

async function expectHealthy(server: { url: string }): Promise<void> {
  expect((await fetch(`${server.url}/health`)).status).toBe(200)
}

describe('fuzzing the HTTP inputs', () => {
  it('answers every /poll query with success or a typed 4xx', async () => {
    const server = await startServer({ poll: { timeoutMs: 1 }, limits: { maxSubscriptionsPerConnection: 3 } })
    await fc.assert(
      fc.asyncProperty(queryish, async (q) => {
        await expectTypedAnswer(await fetch(`${server.url}/poll?${toQuery(q)}`))
      }),
      runs(2000),
    )
    await expectHealthy(server)
  })

  it('answers every /sse query and Last-Event-ID with a stream or a typed 4xx', async () => {
    const server = await startServer({ limits: { maxSubscriptionsPerConnection: 3 } })
    await fc.assert(
      fc.asyncProperty(
        queryish,
        fc.option(fc.oneof(cursorMapish, fc.string({ maxLength: 30 })), { nil: undefined }),
        async (q, lastEventId) => {
          const headers: Record<string, string> = { accept: 'text/event-stream' }
          // Header values cannot carry control characters; fetch refuses them before they reach us.
          if (lastEventId !== undefined && printable(lastEventId)) headers['last-event-id'] = lastEventId
          const controller = new AbortController()
          const response = await fetch(`${server.url}/sse?${toQuery(q)}`, {
            headers,
            signal: controller.signal,
          })
          if (response.status === 200) expect(response.headers.get('content-type')).toBe('text/event-stream')
          else await expectTypedAnswer(response)
          controller.abort()
        },
      ),
      runs(1500),
    )
    await expectHealthy(server)
  })

  it('answers every /publish body and Idempotency-Key with success or a typed 4xx', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 2048 } })
    const body = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.json(),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      fc.constantFrom('', '{}', '[]', 'null', '{"channel":"a"}', '{"channel":"a","data":null}', '{"data":1}'),
      fc.nat({ max: 3000 }).map((n) => JSON.stringify({ channel: 'big', data: 'x'.repeat(n) })),
      fc
        .nat({ max: 2000 })
        .map((depth) => `{"channel":"deep","data":${'['.repeat(depth)}${']'.repeat(depth)}}`),
      fc
        .record({ channel: channelish, data: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: [] })
        .map((o) => JSON.stringify(o)),
    )
    const key = fc.option(
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.constantFrom('k'.repeat(200), 'k'.repeat(201), ' ', 'a b', '\t'),
      ),
      { nil: undefined },
    )
    await fc.assert(
      fc.asyncProperty(body, key, async (raw, idempotencyKey) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (idempotencyKey !== undefined && printable(idempotencyKey))
          headers['idempotency-key'] = idempotencyKey
        await expectTypedAnswer(await fetch(`${server.url}/publish`, { method: 'POST', headers, body: raw }))
      }),
      runs(2500),
    )
    await expectHealthy(server)
  })
})

describe('fuzzing WebSocket frames', () => {
  const KNOWN = new Set([
    'welcome',
    'ack',
    'error',
    'pong',
    'subscribed',
    'unsubscribed',
    'message',
    'reconnect',
  ])
  const frameish = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.json({ maxDepth: 3 }),
    fc.uint8Array({ maxLength: 32 }).map((bytes) => ({ binary: Buffer.from(bytes) })),
    fc.constantFrom('', '{', '[]', 'null', '{"type":null}', '{"type":"subscribe"}', '{"id":1}'),
    fc
      .record(
        {
          type: fc.oneof(
            fc.constantFrom(
              'subscribe',
              'unsubscribe',
              'publish',
              'auth',
              'ping',
              'pong',
              'connect',
              'welcome',
              'x',
            ),
            fc.string({ maxLength: 8 }),
          ),
          id: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 5 }), fc.constant(2 ** 31)),
          channel: channelish,
          since: cursorish,
          data: fc.jsonValue({ maxDepth: 3 }),
          key: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('k'.repeat(201))),
          token: fc.string({ maxLength: 20 }),
        },
        { requiredKeys: ['type'] },
      )
      .map((o) => JSON.stringify(o)),
  )

  function expectTyped(frames: Frame[]): void {
    for (const f of frames) {
      expect(KNOWN.has(f.type)).toBe(true)
      if (f.type === 'error') {
        expect(isErrorCode(f.code)).toBe(true)
        expect(f.code).not.toBe('internal')
      }
    }
  }

  it('answers every frame after the handshake with typed frames, in order, and keeps the socket open', async () => {
    const server = await startServer({ limits: { maxSubscriptionsPerConnection: 20 } })
    const socket = await connect(server)
    let sentinel = 1_000_000
    await fc.assert(
      fc.asyncProperty(frameish, async (frame) => {
        const from = socket.frames.length
        socket.ws.send(typeof frame === 'string' ? frame : frame.binary, {
          binary: typeof frame !== 'string',
        })
        // Requests are answered in order: once the sentinel's answer is in, so is everything for `frame`.
        const id = sentinel++
        socket.send({ type: 'unsubscribe', id, channel: 'sentinel' })
        await socket.next((f) => f.type === 'unsubscribed' && f.id === id)
        expectTyped(socket.frames.slice(from))
        expect(socket.ws.readyState).toBe(WebSocket.OPEN)
      }),
      runs(4000),
    )
    await expectHealthy(server)
  })

  it('answers any first frame with a welcome, or a typed error and close 4400', async () => {
    const server = await startServer()
    await fc.assert(
      fc.asyncProperty(frameish, async (frame) => {
        const socket = new TestSocket(wsUrl(server))
        await socket.opened
        socket.ws.send(typeof frame === 'string' ? frame : frame.binary, {
          binary: typeof frame !== 'string',
        })
        const first = await socket.next(() => true)
        if (first.type === 'welcome') {
          socket.ws.close()
          return
        }
        expect(first.type).toBe('error')
        expectTyped([first])
        expect((await socket.closed).code).toBe(4400)
      }),
      runs(300),
    )
    await expectHealthy(server)
  })
})
