import { formatCursorMap, parseCursor, parseCursorMap } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
import {
  captureLogger,
  eventually,
  openPausableSse,
  openSse,
  SECRET,
  signToken,
  startServer,
} from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

const epochOf = (cursor: string) => parseCursor(cursor)!.epoch

describe('GET /sse', () => {
  it('streams several channels: headers, retry, one subscribed event per channel, then unnamed messages', async () => {
    const server = await startServer()
    const a0 = await server.publish('a', 'before')
    const stream = await openSse(server, 'channel=a&channel=b')
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream')
    expect(stream.response.headers.get('cache-control')).toBe('no-cache')
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no')
    expect(stream.response.headers.get('holdfast-gap')).toBeNull()
    await stream.until((s) => s.events.length >= 2)
    const [subA, subB] = stream.events
    const startMap = stream.response.headers.get('holdfast-replay-from')!
    expect(parseCursorMap(startMap)!.get('a')).toBe(a0.cursor)
    expect(stream.retries[0]).toBe(1000)
    expect(subA).toMatchObject({ event: 'subscribed', id: startMap })
    expect(JSON.parse(subA!.data)).toEqual({
      channel: 'a',
      epoch: epochOf(a0.cursor),
      cursor: a0.cursor,
      recovered: true,
    })
    expect(subB).toMatchObject({ event: 'subscribed', id: startMap })
    expect(JSON.parse(subB!.data)).toMatchObject({ channel: 'b', recovered: true })

    const a1 = await server.publish('a', { n: 1 })
    const b1 = await server.publish('b', { n: 2 })
    await stream.until((s) => s.messages().length === 2)
    const bStart = parseCursorMap(startMap)!.get('b')!
    expect(stream.messages()).toEqual([
      { id: formatCursorMap({ a: a1.cursor, b: bStart }), channel: 'a', cursor: a1.cursor, data: { n: 1 } },
      {
        id: formatCursorMap({ a: a1.cursor, b: b1.cursor }),
        channel: 'b',
        cursor: b1.cursor,
        data: { n: 2 },
      },
    ])
  })

  it('resumes from Last-Event-ID with nothing lost and nothing repeated, preferring it over since', async () => {
    const server = await startServer()
    const first = await openSse(server, 'channel=a&channel=b')
    await first.until((s) => s.events.length >= 2)
    for (let n = 1; n <= 3; n++) await server.publish(n % 2 ? 'a' : 'b', n)
    await first.until((s) => s.messages().length === 3)
    const lastId = first.messages()[2]!.id!
    await first.cancel()
    for (let n = 4; n <= 6; n++) await server.publish(n % 2 ? 'a' : 'b', n)
    const resumed = await openSse(server, 'channel=a&channel=b&since=a=bogus:1', { 'last-event-id': lastId })
    expect(resumed.response.headers.get('holdfast-replay-from')).toBe(lastId)
    expect(resumed.response.headers.get('holdfast-gap')).toBeNull()
    await resumed.until((s) => s.messages().length === 3)
    // Order holds within a channel; across channels there is none to keep.
    expect(
      resumed
        .messages()
        .filter((m) => m.channel === 'a')
        .map((m) => m.data),
    ).toEqual([5])
    expect(
      resumed
        .messages()
        .filter((m) => m.channel === 'b')
        .map((m) => m.data),
    ).toEqual([4, 6])
    expect(
      resumed.events.filter((e) => e.event === 'subscribed').map((e) => JSON.parse(e.data).recovered),
    ).toEqual([true, true])
  })

  it('starts a first connection from the since query parameter', async () => {
    const server = await startServer()
    const one = await server.publish('a', 1)
    await server.publish('a', 2)
    const stream = await openSse(server, `channel=a&since=${encodeURIComponent(`a=${one.cursor}`)}`)
    await stream.until((s) => s.messages().length === 1)
    expect(stream.messages()[0]!.data).toBe(2)
    expect(stream.events[0]!.id).toBe(`a=${one.cursor}`)
  })

  it('reports a gap header and recovered:false when the history was trimmed, and replays what is left', async () => {
    const server = await startServer({ history: { size: 2 } })
    const one = await server.publish('a', 1)
    for (let n = 2; n <= 4; n++) await server.publish('a', n)
    const stream = await openSse(server, `channel=a&channel=b&since=a=${one.cursor}`)
    expect(stream.response.headers.get('holdfast-gap')).toBe('a')
    // The replay starts after the last lost message, so a reconnect from here is a clean resume.
    expect(parseCursorMap(stream.response.headers.get('holdfast-replay-from'))!.get('a')).toBe(
      `${epochOf(one.cursor)}:2`,
    )
    await stream.until((s) => s.messages().length === 2)
    expect(JSON.parse(stream.events[0]!.data)).toMatchObject({ channel: 'a', recovered: false })
    expect(stream.messages().map((m) => m.data)).toEqual([3, 4])
  })

  it('sends a heartbeat comment with the server time every heartbeat interval', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, sse: { heartbeatMs: 15_000 }, limits: { pingIntervalMs: 1e9 } })
    const stream = await openSse(server, 'channel=a')
    await stream.until((s) => s.events.length === 1)
    clock.advance(14_999)
    clock.advance(1)
    const expected = `hb ${clock.now()}`
    await stream.until((s) => s.comments.length === 1)
    expect(stream.comments).toEqual([expected])
    clock.advance(15_000)
    await stream.until((s) => s.comments.length === 2)
    expect(stream.comments[1]).toBe(`hb ${clock.now()}`)
  })

  it('ends the stream with an error event when the token expires', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, auth: { secret: SECRET }, limits: { pingIntervalMs: 1e9 } })
    const token = await signToken({ expSec: 30, nowMs: clock.now() })
    const stream = await openSse(server, 'channel=a', { authorization: `Bearer ${token}` })
    await stream.until((s) => s.events.length === 1)
    clock.advance(30_000)
    await stream.until((s) => s.ended)
    const last = stream.events.at(-1)!
    expect(last.event).toBe('error')
    expect(JSON.parse(last.data)).toMatchObject({ type: 'error', code: 'token_expired' })
  })

  it('answers 401 without a valid token and 403 for a forbidden channel, as typed JSON', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: (_user, channel) => channel !== 'secret',
    })
    const cases: Array<[Record<string, string>, string, number, string]> = [
      [{}, 'channel=a', 401, 'unauthorized'],
      [{ authorization: 'Bearer junk' }, 'channel=a', 401, 'unauthorized'],
      [{ authorization: `Bearer ${await signToken({ expSec: -1 })}` }, 'channel=a', 401, 'token_expired'],
      [{ authorization: `Bearer ${await signToken()}` }, 'channel=a&channel=secret', 403, 'forbidden'],
    ]
    for (const [headers, query, status, code] of cases) {
      const response = await fetch(`${server.url}/sse?${query}`, { headers })
      expect(response.status).toBe(status)
      const { error } = await response.json()
      expect(error.code).toBe(code)
      // A refused channel is named, so a client can drop just that one (PROTOCOL.md section 2).
      expect(error.channel).toBe(status === 403 ? 'secret' : undefined)
    }
    const ok = await openSse(server, 'channel=a', { authorization: `Bearer ${await signToken()}` })
    expect(ok.response.status).toBe(200)
  })

  it('rejects bad parameters with 400 and a typed error body', async () => {
    const server = await startServer({ limits: { maxSubscriptionsPerConnection: 2 } })
    const cases: Array<[string, Record<string, string>, string]> = [
      ['', {}, 'bad_request'],
      ['channel=has%20space', {}, 'invalid_channel'],
      ['channel=a&since=a=not-a-cursor', {}, 'invalid_cursor'],
      ['channel=a', { 'last-event-id': 'garbage' }, 'invalid_cursor'],
      ['channel=a&channel=b&channel=c', {}, 'too_many_subscriptions'],
    ]
    for (const [query, headers, code] of cases) {
      const response = await fetch(`${server.url}/sse?${query}`, { headers })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({ error: { code, message: expect.any(String) } })
    }
  })

  it('ends the stream of a consumer that stops reading, and the client can resume from its last id', async () => {
    const logger = captureLogger()
    const server = await startServer({
      logger,
      history: { size: 4000 },
      limits: { sendBufferBytes: 64 * 1024, maxMessageBytes: 16 * 1024 },
    })
    const sse = await openPausableSse(`${server.url}/sse?channel=firehose`)
    const { response } = sse
    await eventually(() => expect(sse.text).toContain('event: subscribed'))
    response.pause()
    const payload = 'y'.repeat(8 * 1024)
    let sent = 0
    while (!logger.records.some((r) => r.message.includes('slow SSE consumer')) && sent < 4000) {
      await server.publish('firehose', { n: sent++, payload })
      if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(logger.records.some((r) => r.message.includes('slow SSE consumer'))).toBe(true)
    response.resume()
    await eventually(() => expect(sse.ended).toBe(true))
    // Only complete events count: the cut may have left half of one behind (or, with a reset, none).
    const complete = sse.text
      .split('\n\n')
      .slice(0, -1)
      .map((block) =>
        Object.fromEntries(
          block
            .split('\n')
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        ),
      )
    const lastId = complete.filter((e) => e.id !== undefined).at(-1)!.id as string
    const lastMessage = complete.filter((e) => e.event === undefined && e.data !== undefined).at(-1)
    const nextN = lastMessage
      ? (JSON.parse(lastMessage.data as string) as { data: { n: number } }).data.n + 1
      : 0
    expect(nextN).toBeLessThan(sent)
    const resumed = await openSse(server, 'channel=firehose', { 'last-event-id': lastId })
    await resumed.until((s) => s.messages().length === sent - nextN)
    expect((resumed.messages()[0]!.data as { n: number }).n).toBe(nextN)
  })
})
