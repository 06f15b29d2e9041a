import { type PollResponse, parseCursor, parseCursorMap } from '@holdfast/protocol'
import { describe, expect, it, onTestFinished } from 'vitest'
import { eventually, SECRET, signToken, startServer } from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

const epochOf = (cursor: string) => parseCursor(cursor)!.epoch

/** Starts a poll without waiting for it; `answer` settles when the server responds. */
function poll(server: { url: string }, query: string, headers: Record<string, string> = {}) {
  const controller = new AbortController()
  onTestFinished(() => controller.abort())
  let settled = false
  const answer = fetch(`${server.url}/poll?${query}`, { headers, signal: controller.signal }).then(
    async (response) => {
      settled = true
      return { response, body: (await response.json()) as PollResponse & { error?: { code: string } } }
    },
  )
  answer.catch(() => {})
  return { answer, abort: () => controller.abort(), isSettled: () => settled }
}

describe('GET /poll', () => {
  it('answers at once for a channel missing from since, with its subscribed entry', async () => {
    const server = await startServer()
    const head = await server.publish('a', 'old')
    const { response, body } = await poll(server, 'channel=a&channel=b').answer
    expect(response.status).toBe(200)
    expect(body.messages).toEqual([])
    expect(body.subscribed).toEqual([
      { channel: 'a', epoch: epochOf(head.cursor), cursor: head.cursor, recovered: true },
      { channel: 'b', epoch: expect.any(String), cursor: expect.stringMatching(/:0$/), recovered: true },
    ])
    expect(parseCursorMap(body.since)!.get('a')).toBe(head.cursor)
  })

  it('holds the request and answers as soon as a message arrives', async () => {
    const server = await startServer()
    const first = await poll(server, 'channel=a').answer
    const pending = poll(server, `channel=a&since=${encodeURIComponent(first.body.since)}`)
    await eventually(() => expect(server.connectionCount).toBe(1))
    expect(pending.isSettled()).toBe(false)
    const published = await server.publish('a', { hello: 'poll' })
    const { body } = await pending.answer
    expect(body.messages).toEqual([{ channel: 'a', cursor: published.cursor, data: { hello: 'poll' } }])
    expect(body.since).toBe(`a=${published.cursor}`)
    expect(body.subscribed).toEqual([])
    await eventually(() => expect(server.connectionCount).toBe(0))
  })

  it('answers with the same since when the hold times out, capped by the server', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, poll: { timeoutMs: 25_000 }, limits: { pingIntervalMs: 1e9 } })
    const since = (await poll(server, 'channel=a').answer).body.since
    const query = `channel=a&since=${encodeURIComponent(since)}`

    const idleTimers = clock.pending
    const short = poll(server, `${query}&timeoutMs=1000`)
    await eventually(() => expect(clock.pending).toBe(idleTimers + 1))
    clock.advance(999)
    // The hold is a timer on the server's clock: still pending 1 ms before it is due, so nothing answered.
    expect(clock.pending).toBe(idleTimers + 1)
    expect(short.isSettled()).toBe(false)
    clock.advance(1)
    expect((await short.answer).body).toEqual({ since, messages: [], subscribed: [] })

    const long = poll(server, `${query}&timeoutMs=600000`)
    await eventually(() => expect(clock.pending).toBe(idleTimers + 1))
    clock.advance(24_999)
    expect(clock.pending).toBe(idleTimers + 1)
    expect(long.isSettled()).toBe(false)
    clock.advance(1)
    expect((await long.answer).body.since).toBe(since)
  })

  it('resumes from since: replays what is newer and moves since forward', async () => {
    const server = await startServer()
    const start = (await poll(server, 'channel=a').answer).body.since
    for (let n = 1; n <= 3; n++) await server.publish('a', n)
    const { response, body } = await poll(server, `channel=a&since=${encodeURIComponent(start)}`).answer
    expect(response.headers.get('holdfast-replay-from')).toBe(start)
    expect(response.headers.get('holdfast-gap')).toBeNull()
    expect(body.messages.map((m) => m.data)).toEqual([1, 2, 3])
    expect(body.since).toBe(`a=${body.messages[2]!.cursor}`)
    const next = poll(server, `channel=a&since=${encodeURIComponent(body.since)}`)
    await eventually(() => expect(server.connectionCount).toBe(1))
    expect(next.isSettled()).toBe(false)
  })

  it('caps the messages per answer and continues with the next poll', async () => {
    const server = await startServer({ poll: { maxMessages: 2 } })
    const start = (await poll(server, 'channel=a').answer).body.since
    for (let n = 1; n <= 5; n++) await server.publish('a', n)
    let since = start
    const seen: unknown[] = []
    for (const expected of [[1, 2], [3, 4], [5]]) {
      const { body } = await poll(server, `channel=a&since=${encodeURIComponent(since)}`).answer
      expect(body.messages.map((m) => m.data)).toEqual(expected)
      seen.push(...body.messages.map((m) => m.data))
      since = body.since
    }
    expect(seen).toEqual([1, 2, 3, 4, 5])
  })

  it('reports a gap with recovered:false when since cannot be honoured', async () => {
    const server = await startServer({ history: { size: 2 } })
    const one = await server.publish('a', 1)
    for (let n = 2; n <= 4; n++) await server.publish('a', n)
    const { response, body } = await poll(server, `channel=a&since=${encodeURIComponent(`a=${one.cursor}`)}`)
      .answer
    expect(response.headers.get('holdfast-gap')).toBe('a')
    expect(body.subscribed).toEqual([
      { channel: 'a', epoch: epochOf(one.cursor), cursor: expect.any(String), recovered: false },
    ])
    expect(body.messages.map((m) => m.data)).toEqual([3, 4])
    const otherEpoch = await poll(server, 'channel=a&since=a=gone:5').answer
    expect(otherEpoch.body.subscribed![0]!.recovered).toBe(false)
    expect(otherEpoch.body.messages.map((m) => m.data)).toEqual([3, 4])
  })

  it('releases a held poll when the client goes away', async () => {
    const server = await startServer()
    const since = (await poll(server, 'channel=a').answer).body.since
    const held = poll(server, `channel=a&since=${encodeURIComponent(since)}`)
    await eventually(() => expect(server.connectionCount).toBe(1))
    held.abort()
    await eventually(() => expect(server.connectionCount).toBe(0))
  })

  it('rejects bad input with typed 400s and applies auth', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: (_u, channel) => channel !== 'no',
    })
    const token = await signToken()
    const auth = { authorization: `Bearer ${token}` }
    const cases: Array<[string, Record<string, string>, number, string]> = [
      ['channel=a&timeoutMs=soon', auth, 400, 'bad_request'],
      ['channel=a&timeoutMs=-1', auth, 400, 'bad_request'],
      ['channel=a&timeoutMs=2500.5', auth, 400, 'bad_request'],
      ['channel=a&since=a%3Dbroken', auth, 400, 'invalid_cursor'],
      ['channel=b%2Cc', auth, 400, 'invalid_channel'],
      ['', auth, 400, 'bad_request'],
      ['channel=a', {}, 401, 'unauthorized'],
      ['channel=a', { authorization: `Bearer ${await signToken({ expSec: -1 })}` }, 401, 'token_expired'],
      ['channel=a&channel=no', auth, 403, 'forbidden'],
    ]
    for (const [query, headers, status, code] of cases) {
      const { response, body } = await poll(server, query, headers).answer
      expect([query, response.status]).toEqual([query, status])
      expect(body.error!.code).toBe(code)
      // A refused channel is named, so a client can drop just that one (PROTOCOL.md section 2).
      expect((body.error as { channel?: string }).channel).toBe(status === 403 ? 'no' : undefined)
    }
    expect((await poll(server, 'channel=a', auth).answer).response.status).toBe(200)
  })

  it('caps a hold longer than its own (PROTOCOL.md §5), however many digits it has', async () => {
    const server = await startServer({ poll: { timeoutMs: 50 } })
    const started = await poll(server, 'channel=a').answer
    const since = started.body.since as string
    for (const timeoutMs of ['1000000000', '99999999999999999999']) {
      const held = await poll(server, `channel=a&since=${encodeURIComponent(since)}&timeoutMs=${timeoutMs}`)
        .answer
      expect([timeoutMs, held.response.status, held.body.messages]).toEqual([timeoutMs, 200, []])
    }
  })
})
