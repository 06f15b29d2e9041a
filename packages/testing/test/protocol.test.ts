// The mock's wire format, read raw: what a Holdfast server must say per docs/PROTOCOL.md.
import { type ServerFrame, SseEvent } from '@holdfast/protocol'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { createHoldfastMock } from '../src'
import { BASE_URL, client, closeClients, until } from './helpers'

const mock = createHoldfastMock({ url: BASE_URL, sseHeartbeatMs: 0, historyLimit: 3 })
const server = setupServer(...mock.handlers)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  closeClients()
  for (const s of sockets.splice(0)) s.close()
  for (const reader of readers.splice(0)) void reader.cancel().catch(() => {})
  mock.reset()
  vi.useRealTimers()
})
afterAll(() => server.close())

const sockets: WebSocket[] = []
const readers: ReadableStreamDefaultReader<Uint8Array>[] = []

/** A raw WebSocket (msw's, since `listen()` patched the global) that records decoded frames. */
function rawSocket(protocols: string | string[] = 'holdfast.v1') {
  const socket = new WebSocket('ws://rt.test/ws', protocols)
  sockets.push(socket)
  const frames: ServerFrame[] = []
  let closed: { code: number; reason: string } | undefined
  socket.addEventListener('message', (e) => frames.push(JSON.parse(String(e.data)) as ServerFrame))
  socket.addEventListener('close', (e) => {
    closed = { code: e.code, reason: e.reason }
  })
  const opened = new Promise<void>((resolve) => socket.addEventListener('open', () => resolve()))
  return {
    socket,
    frames,
    get closed() {
      return closed
    },
    async send(frame: object) {
      await opened
      socket.send(JSON.stringify(frame))
    },
  }
}

async function welcomed(token?: string) {
  const s = rawSocket()
  await s.send(token ? { type: 'connect', token } : { type: 'connect' })
  await until(() => expect(s.frames[0]).toMatchObject({ type: 'welcome' }))
  return s
}

/** Reads a streaming response until `done(text)` holds; returns everything read. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers } })
  const reader = response.body!.getReader()
  readers.push(reader)
  const decoder = new TextDecoder()
  let text = ''
  return {
    response,
    async readUntil(done: (text: string) => boolean) {
      while (!done(text)) {
        const { value, done: ended } = await reader.read()
        if (ended) throw new Error(`stream ended; read so far:\n${text}`)
        text += decoder.decode(value, { stream: true })
      }
      return text
    },
  }
}

describe('WebSocket', () => {
  test('connect → welcome; subscribe with since → subscribed, then the replay, then live messages', async () => {
    mock.publish('room', 'a')
    mock.publish('room', 'b')
    const s = await welcomed('t1')
    expect(s.frames[0]).toEqual({ type: 'welcome', session: 'mock-session-1', maxMessageBytes: 131072 })
    await s.send({ type: 'subscribe', id: 1, channel: 'room', since: 'mock:1' })
    mock.publish('room', 'c')
    await until(() => expect(s.frames).toHaveLength(4))
    expect(s.frames.slice(1)).toEqual([
      { type: 'subscribed', id: 1, channel: 'room', epoch: 'mock', cursor: 'mock:2', recovered: true },
      { type: 'message', channel: 'room', cursor: 'mock:2', data: 'b' },
      { type: 'message', channel: 'room', cursor: 'mock:3', data: 'c' },
    ])
    expect(mock.connections[0]).toMatchObject({ transport: 'websocket', token: 't1', channels: ['room'] })
  })

  test('a resume from before the kept history is not recovered and replays from the oldest kept message', async () => {
    for (const n of [1, 2, 3, 4, 5]) mock.publish('room', n)
    const s = await welcomed()
    await s.send({ type: 'subscribe', id: 7, channel: 'room', since: 'mock:1' })
    await until(() => expect(s.frames).toHaveLength(5))
    expect(s.frames[1]).toMatchObject({ type: 'subscribed', cursor: 'mock:5', recovered: false })
    expect(s.frames.slice(2).map((f) => (f as { data: unknown }).data)).toEqual([3, 4, 5])
  })

  test('publish is acknowledged with its cursor, and a repeated idempotency key is a duplicate', async () => {
    const s = await welcomed()
    await s.send({ type: 'publish', id: 1, channel: 'room', data: { x: 1 }, key: 'k1' })
    await s.send({ type: 'publish', id: 2, channel: 'room', data: { x: 1 }, key: 'k1' })
    await until(() => expect(s.frames).toHaveLength(3))
    expect(s.frames.slice(1)).toEqual([
      { type: 'ack', id: 1, cursor: 'mock:1', duplicate: false },
      { type: 'ack', id: 2, cursor: 'mock:1', duplicate: true },
    ])
    expect(mock.history('room')).toHaveLength(1)
    expect(mock.published.map((p) => p.duplicate)).toEqual([false, true])
  })

  test('ping → pong, unsubscribe → unsubscribed and no more messages', async () => {
    const s = await welcomed()
    await s.send({ type: 'subscribe', id: 1, channel: 'room' })
    await s.send({ type: 'unsubscribe', id: 2, channel: 'room' })
    await s.send({ type: 'ping' })
    await until(() => expect(s.frames.at(-1)).toEqual({ type: 'pong' }))
    mock.publish('room', 'not for you')
    await s.send({ type: 'ping' })
    await until(() => expect(s.frames.filter((f) => f.type === 'pong')).toHaveLength(2))
    expect(s.frames.map((f) => f.type)).toEqual(['welcome', 'subscribed', 'unsubscribed', 'pong', 'pong'])
  })

  test('a first frame other than connect gets bad_frame and close 4400', async () => {
    const s = rawSocket()
    await s.send({ type: 'subscribe', id: 1, channel: 'room' })
    await until(() => expect(s.closed?.code).toBe(4400))
    expect(s.frames).toEqual([
      { type: 'error', code: 'bad_frame', message: expect.stringContaining('connect') },
    ])
  })

  test('a socket without the holdfast.v1 subprotocol is closed with 4400', async () => {
    const s = rawSocket('chat')
    await until(() => expect(s.closed?.code).toBe(4400))
  })

  test('a forbidden channel gets an error frame that names the request and the channel', async () => {
    mock.forbid('secret')
    const s = await welcomed()
    await s.send({ type: 'subscribe', id: 3, channel: 'secret' })
    await until(() =>
      expect(s.frames[1]).toMatchObject({ type: 'error', id: 3, channel: 'secret', code: 'forbidden' }),
    )
  })

  test('expireToken: token_expired frame, close 4100 after the grace unless auth arrives; expired tokens are refused', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const kept = await welcomed('old-a')
    const closes = await welcomed('old-b')
    mock.expireToken()
    await vi.advanceTimersByTimeAsync(0)
    for (const s of [kept, closes]) {
      expect(s.frames.at(-1)).toMatchObject({ type: 'error', code: 'token_expired' })
    }
    await kept.send({ type: 'auth', id: 9, token: 'old-b' })
    await vi.advanceTimersByTimeAsync(0)
    expect(kept.frames.at(-1)).toMatchObject({ type: 'error', id: 9, code: 'token_expired' })
    await kept.send({ type: 'auth', id: 10, token: 'fresh' })
    await vi.advanceTimersByTimeAsync(4999)
    expect(kept.frames.at(-1)).toEqual({ type: 'ack', id: 10 })
    expect(closes.closed).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(closes.closed?.code).toBe(4100)
    expect(kept.closed).toBeUndefined()

    const again = rawSocket()
    await again.send({ type: 'connect', token: 'old-a' })
    await vi.advanceTimersByTimeAsync(0)
    expect(again.closed?.code).toBe(4100)
  })

  test("dropConnections closes with the given code and reason; refuse('websocket') closes before the welcome", async () => {
    const s = await welcomed()
    expect(mock.dropConnections({ code: 4000, reason: '{"retryAfterMs":50}' })).toBe(1)
    await until(() => expect(s.closed).toEqual({ code: 4000, reason: '{"retryAfterMs":50}' }))

    mock.refuse('websocket')
    const refused = rawSocket()
    await until(() => expect(refused.closed?.code).toBe(1006))
    expect(refused.frames).toEqual([])
    mock.allow('websocket')
    await welcomed()
  })

  test('setDelay holds every answer back by that long', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const s = await welcomed()
    mock.setDelay(1000)
    await s.send({ type: 'ping' })
    await vi.advanceTimersByTimeAsync(999)
    expect(s.frames.map((f) => f.type)).toEqual(['welcome'])
    await vi.advanceTimersByTimeAsync(1)
    expect(s.frames.map((f) => f.type)).toEqual(['welcome', 'pong'])
  })
})

describe('SSE', () => {
  test('the stream opens with retry, one subscribed event per channel, then unnamed message events with cursor-map ids', async () => {
    mock.publish('b', 'old')
    const stream = await openStream(`${BASE_URL}/sse?channel=a&channel=b`)
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream')
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no')
    expect(stream.response.headers.get('holdfast-replay-from')).toBe('a=mock:0,b=mock:1')
    mock.publish('a', { n: 1 })
    const text = await stream.readUntil((t) => t.includes('"n":1'))
    expect(text).toBe(
      'retry: 0\n\n' +
        `event: ${SseEvent.Subscribed}\nid: a=mock:0,b=mock:1\ndata: {"channel":"a","epoch":"mock","cursor":"mock:0","recovered":true}\n\n` +
        `event: ${SseEvent.Subscribed}\nid: a=mock:0,b=mock:1\ndata: {"channel":"b","epoch":"mock","cursor":"mock:1","recovered":true}\n\n` +
        'id: a=mock:1,b=mock:1\ndata: {"channel":"a","cursor":"mock:1","data":{"n":1}}\n\n',
    )
  })

  test('Last-Event-ID resumes (and wins over ?since=); a lost history is named in holdfast-gap', async () => {
    for (const n of [1, 2, 3]) mock.publish('a', n)
    mock.publish('b', 'x')
    mock.loseHistory('b')
    const stream = await openStream(`${BASE_URL}/sse?channel=a&channel=b&since=a=mock:0`, {
      'last-event-id': 'a=mock:2,b=mock:1',
    })
    expect(stream.response.headers.get('holdfast-gap')).toBe('b')
    expect(stream.response.headers.get('holdfast-replay-from')).toBe('a=mock:2,b=mock-2:0')
    const text = await stream.readUntil((t) => t.includes('"cursor":"mock:3"'))
    expect(text).toContain('"channel":"b","epoch":"mock-2","cursor":"mock-2:0","recovered":false')
    expect(text.match(/^data: \{"channel":"a","cursor"/gm)).toHaveLength(1)
  })

  test('refused, expired or forbidden streams answer with the HTTP status of PROTOCOL.md §2', async () => {
    mock.forbid('secret')
    const forbidden = await fetch(`${BASE_URL}/sse?channel=a&channel=secret`)
    expect(forbidden.status).toBe(403)
    // The refused channel is named, as the reference server does, so a client drops just that one.
    expect((await forbidden.json()).error).toMatchObject({ code: 'forbidden', channel: 'secret' })
    expect((await fetch(`${BASE_URL}/sse`)).status).toBe(400)
    const seen = await openStream(`${BASE_URL}/sse?channel=a`, { authorization: 'Bearer t1' })
    await seen.readUntil((t) => t.includes('subscribed'))
    mock.expireToken()
    const expired = await fetch(`${BASE_URL}/sse?channel=a`, { headers: { authorization: 'Bearer t1' } })
    expect(expired.status).toBe(401)
    expect(await expired.json()).toEqual({ error: { code: 'token_expired', message: expect.any(String) } })
    mock.refuse('sse')
    expect((await fetch(`${BASE_URL}/sse?channel=a`)).status).toBe(404)
  })

  test('a client that goes away ends its stream on the mock (msw does not forward the abort by itself)', async () => {
    const c = client({ transports: ['sse'] })
    c.subscribe('room', () => {})
    await until(() =>
      expect(mock.connections.some((conn) => conn.transport === 'sse' && conn.open)).toBe(true),
    )
    c.close()
    await until(() => expect(mock.connections.filter((conn) => conn.open)).toEqual([]))
  })
})

describe('long polling', () => {
  test('a channel missing from since starts now; a poll with nothing new is held until a message arrives', async () => {
    mock.publish('room', 'before')
    const first = await (await fetch(`${BASE_URL}/poll?channel=room`)).json()
    expect(first).toEqual({
      since: 'room=mock:1',
      messages: [],
      subscribed: [{ channel: 'room', epoch: 'mock', cursor: 'mock:1', recovered: true }],
    })
    const held = fetch(`${BASE_URL}/poll?channel=room&since=${first.since}&timeoutMs=5000`)
    await until(() =>
      expect(mock.connections.filter((c) => c.open && c.transport === 'longpoll')).toHaveLength(1),
    )
    mock.publish('room', 'news')
    expect(await (await held).json()).toEqual({
      since: 'room=mock:2',
      messages: [{ channel: 'room', cursor: 'mock:2', data: 'news' }],
    })
  })

  test('a held poll answers empty after timeoutMs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const held = fetch(`${BASE_URL}/poll?channel=room&since=room=mock:0&timeoutMs=2000`)
    let answered = false
    void held.then(() => {
      answered = true
    })
    await vi.advanceTimersByTimeAsync(1999)
    expect(answered).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await (await held).json()).toEqual({ since: 'room=mock:0', messages: [] })
  })

  test('held polls fail on dropConnections and answer 401 on expireToken', async () => {
    const dropped = fetch(`${BASE_URL}/poll?channel=room&since=room=mock:0`)
    await until(() => expect(mock.connections.filter((c) => c.open)).toHaveLength(1))
    mock.dropConnections()
    await expect(dropped).rejects.toThrow()
    const expired = fetch(`${BASE_URL}/poll?channel=room&since=room=mock:0`, {
      headers: { authorization: 'Bearer t9' },
    })
    await until(() => expect(mock.connections.filter((c) => c.open)).toHaveLength(1))
    mock.expireToken()
    expect((await expired).status).toBe(401)
  })
})

describe('POST /publish and GET /health', () => {
  test('publish stores once per idempotency key, refuses oversize bodies and expired tokens', async () => {
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${BASE_URL}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })
    const first = await post(
      { channel: 'room', data: 1 },
      { 'idempotency-key': 'k', authorization: 'Bearer t' },
    )
    expect(await first.json()).toEqual({ cursor: 'mock:1', duplicate: false })
    const again = await post({ channel: 'room', data: 1 }, { 'idempotency-key': 'k' })
    expect(await again.json()).toEqual({ cursor: 'mock:1', duplicate: true })
    expect((await post({ channel: 'room', data: 'x'.repeat(140_000) })).status).toBe(413)
    expect((await post({ channel: 'bad channel', data: 1 })).status).toBe(400)
    mock.expireToken()
    expect((await post({ channel: 'room', data: 2 }, { authorization: 'Bearer t' })).status).toBe(401)
    expect(mock.published.map((p) => [p.key, p.duplicate, p.via])).toEqual([
      ['k', false, 'http'],
      ['k', true, 'http'],
    ])
  })

  test('health answers 200 {"status":"ok"}', async () => {
    const response = await fetch(`${BASE_URL}/health`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok' })
  })
})

describe('reset', () => {
  test('clears history, publishes, connections and switches', async () => {
    mock.publish('room', 1)
    mock.refuse('sse')
    mock.setDelay(50)
    const s = await welcomed()
    mock.reset()
    await until(() => expect(s.closed?.code).toBe(1001))
    expect(mock.history('room')).toEqual([])
    expect(mock.connections).toEqual([])
    expect(mock.published).toEqual([])
    expect((await fetch(`${BASE_URL}/sse?channel=a`)).status).toBe(200)
    expect(mock.publish('room', 2).cursor).toBe('mock:1')
  })
})
