import { connect as netConnect } from 'node:net'
import { CloseCode, parseRetryAfterReason } from '@holdfast/protocol'
import { describe, expect, it } from 'vitest'
import { createServer, memoryBroker } from '../src/index'
import {
  captureLogger,
  connect,
  eventually,
  openSse,
  SECRET,
  signToken,
  startServer,
  TestSocket,
  wsUrl,
} from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

function publishHttp(server: { url: string }, channel: string, data: unknown, headers = {}) {
  return fetch(`${server.url}/publish`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ channel, data }),
  })
}

describe('publish limits (limits.publishRate, limits.publishRatePerClient)', () => {
  it('are on by default: a WebSocket publishing as fast as it can gets rate_limited with retryAfterMs, and nothing more is stored', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, limits: { pingIntervalMs: 1e9 } })
    const socket = await connect(server)
    // The default bucket: a burst of 2,000, then 1,000 a second (no time passes on this clock).
    const total = 2010
    for (let id = 1; id <= total; id++) socket.send({ type: 'publish', id, channel: 'spam', data: id })
    const answers = (await socket.all(total, (f) => typeof f.id === 'number' && f.id <= total)).sort(
      (a, b) => a.id - b.id,
    )
    const acked = answers.filter((f) => f.type === 'ack')
    const limited = answers.filter((f) => f.type === 'error')
    expect(acked).toHaveLength(2000)
    expect(limited).toHaveLength(10)
    expect(limited[0]).toMatchObject({ code: 'rate_limited', channel: 'spam', retryAfterMs: 1 })
    // The 2,000th message is the newest stored: none of the refused ones was.
    expect((await server.broker.read('spam')).head).toBe(acked.at(-1)!.cursor)
    expect(acked.at(-1)!.cursor).toMatch(/:2000$/)
    clock.advance(1)
    socket.send({ type: 'publish', id: 5000, channel: 'spam', data: 'later' })
    expect(await socket.next((f) => f.id === 5000)).toMatchObject({ type: 'ack' })
  })

  it('count per user across connections and POST /publish, answering HTTP with 429 and Retry-After', async () => {
    const clock = new ManualClock()
    const server = await startServer({
      clock,
      auth: { secret: SECRET },
      limits: {
        publishRate: { perSecond: 100, burst: 100 },
        publishRatePerClient: { perSecond: 1, burst: 4 },
        pingIntervalMs: 1e9,
      },
    })
    const alice = await signToken({ sub: 'alice', nowMs: clock.now() })
    const bob = await signToken({ sub: 'bob', nowMs: clock.now() })
    const [a1, a2] = [await connect(server, alice), await connect(server, alice)]
    a1.send({ type: 'publish', id: 1, channel: 'c', data: 1 })
    a2.send({ type: 'publish', id: 1, channel: 'c', data: 2 })
    expect(await a1.next((f) => f.id === 1)).toMatchObject({ type: 'ack' })
    expect(await a2.next((f) => f.id === 1)).toMatchObject({ type: 'ack' })
    expect((await publishHttp(server, 'c', 3, bearer(alice))).status).toBe(200)
    expect((await publishHttp(server, 'c', 4, bearer(alice))).status).toBe(200)
    const refused = await publishHttp(server, 'c', 5, bearer(alice))
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('1')
    expect((await refused.json()).error.code).toBe('rate_limited')
    a1.send({ type: 'publish', id: 2, channel: 'c', data: 6 })
    expect(await a1.next((f) => f.id === 2)).toMatchObject({ code: 'rate_limited', retryAfterMs: 1000 })
    // Someone else's budget is their own.
    expect((await publishHttp(server, 'c', 7, bearer(bob))).status).toBe(200)
    // The backend is never limited.
    await server.publish('c', 'from the backend')
  })

  it("hold a connection's later publishes behind a refused one until it is sent again, so a pipelining client's order is kept", async () => {
    const clock = new ManualClock()
    const server = await startServer({
      clock,
      limits: { publishRate: { perSecond: 10, burst: 1 }, publishRatePerClient: false, pingIntervalMs: 1e9 },
    })
    const socket = await connect(server)
    const publish = (id: number, key: string | undefined) => {
      socket.send({ type: 'publish', id, channel: 'c', data: id, ...(key ? { key } : {}) })
      return socket.next((f) => f.id === id)
    }
    expect(await publish(1, 'k1')).toMatchObject({ type: 'ack' })
    expect(await publish(2, 'k2')).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterMs: 100 })
    clock.advance(100) // a token is back, but k2 has not been sent again: k3 waits behind it
    expect(await publish(3, 'k3')).toMatchObject({ type: 'error', code: 'rate_limited', retryAfterMs: 100 })
    expect(await publish(4, 'k2')).toMatchObject({ type: 'ack' })
    clock.advance(100)
    expect(await publish(5, 'k3')).toMatchObject({ type: 'ack' })
    const first = await server.broker.read('c')
    const stored = await server.broker.read('c', { since: `${first.epoch}:0` })
    expect(stored.messages.map((m) => JSON.parse(m.json))).toEqual([1, 4, 5])
    // A client that never sends the refused one again is held for retryAfterMs plus 10 s, no longer.
    expect(await publish(6, 'k6')).toMatchObject({ code: 'rate_limited' })
    clock.advance(10_099)
    expect(await publish(7, 'k7')).toMatchObject({ code: 'rate_limited' })
    clock.advance(10_101)
    expect(await publish(8, 'k8')).toMatchObject({ type: 'ack' })
    // Without an idempotency key there is nothing to wait for: the hold lasts retryAfterMs.
    expect(await publish(9, undefined)).toMatchObject({ code: 'rate_limited', retryAfterMs: 100 })
    clock.advance(100)
    expect(await publish(10, undefined)).toMatchObject({ type: 'ack' })
  })

  it('can be turned off', async () => {
    const server = await startServer({ limits: { publishRate: false, publishRatePerClient: false } })
    const socket = await connect(server)
    for (let id = 1; id <= 4100; id++) socket.send({ type: 'publish', id, channel: 'c', data: id })
    const last = await socket.next((f) => f.id === 4100)
    expect(last.type).toBe('ack')
    expect(socket.frames.filter((f) => f.type === 'error')).toEqual([])
  })
})

describe('idempotency keys are bounded by count', () => {
  it('forgets the oldest key past idempotencyMaxKeys instead of growing with every fresh key', async () => {
    const broker = memoryBroker({ idempotencyMaxKeys: 50 })
    for (let i = 0; i < 500; i++) await broker.publish('c', '1', { idempotencyKey: `k${i}` })
    expect(broker.stats().idempotencyKeys).toBe(50)
    // The newest keys still deduplicate; the forgotten oldest one stores anew.
    expect((await broker.publish('c', '1', { idempotencyKey: 'k499' })).duplicate).toBe(true)
    expect((await broker.publish('c', '1', { idempotencyKey: 'k0' })).duplicate).toBe(false)
    await broker.close()
  })
})

describe('the channels claim (default authorization)', () => {
  it('restricts a token to the channels its claim lists, as patterns, on every transport', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await signToken({ sub: 'alice', channels: ['chat.*', 'news'] })
    const socket = await connect(server, token)
    socket.send({ type: 'subscribe', id: 1, channel: 'chat.room.1' })
    expect(await socket.next((f) => f.id === 1)).toMatchObject({ type: 'subscribed' })
    socket.send({ type: 'subscribe', id: 2, channel: 'user.bob.inbox' })
    expect(await socket.next((f) => f.id === 2)).toMatchObject({ type: 'error', code: 'forbidden' })
    socket.send({ type: 'publish', id: 3, channel: 'news', data: 1 })
    expect(await socket.next((f) => f.id === 3)).toMatchObject({ type: 'ack' })
    socket.send({ type: 'publish', id: 4, channel: 'chatter', data: 1 })
    expect(await socket.next((f) => f.id === 4)).toMatchObject({ type: 'error', code: 'forbidden' })

    const headers = bearer(token)
    expect((await fetch(`${server.url}/sse?channel=user.bob.inbox`, { headers })).status).toBe(403)
    expect((await fetch(`${server.url}/poll?channel=news&channel=user.bob.inbox`, { headers })).status).toBe(
      403,
    )
    const sse = await fetch(`${server.url}/poll?channel=chat.x&timeoutMs=0`, { headers })
    expect(sse.status).toBe(200)
    const forbidden = await publishHttp(server, 'user.bob.inbox', 1, headers)
    expect(forbidden.status).toBe(403)
    expect((await forbidden.json()).error.code).toBe('forbidden')
  })

  it('grants per action with the object form, and refuses a malformed claim rather than ignoring it', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const token = await signToken({ channels: { news: ['subscribe'], 'chat.*': ['subscribe', 'publish'] } })
    const socket = await connect(server, token)
    socket.send({ type: 'subscribe', id: 1, channel: 'news' })
    expect(await socket.next((f) => f.id === 1)).toMatchObject({ type: 'subscribed' })
    socket.send({ type: 'publish', id: 2, channel: 'news', data: 1 })
    expect(await socket.next((f) => f.id === 2)).toMatchObject({ code: 'forbidden' })
    socket.send({ type: 'publish', id: 3, channel: 'chat.a', data: 1 })
    expect(await socket.next((f) => f.id === 3)).toMatchObject({ type: 'ack' })

    const malformed = await connect(server, await signToken({ channels: 'news' }))
    malformed.send({ type: 'subscribe', id: 1, channel: 'news' })
    expect(await malformed.next((f) => f.id === 1)).toMatchObject({ code: 'forbidden' })
  })

  it('leaves tokens without the claim unrestricted, unless auth.requireChannelsClaim', async () => {
    const open = await startServer({ auth: { secret: SECRET } })
    const plain = await signToken()
    expect(
      (await fetch(`${open.url}/poll?channel=anything&timeoutMs=0`, { headers: bearer(plain) })).status,
    ).toBe(200)
    const strict = await startServer({ auth: { secret: SECRET, requireChannelsClaim: true } })
    expect((await fetch(`${strict.url}/poll?channel=anything`, { headers: bearer(plain) })).status).toBe(403)
    const claimed = await signToken({ channels: ['anything'] })
    expect(
      (await fetch(`${strict.url}/poll?channel=anything&timeoutMs=0`, { headers: bearer(claimed) })).status,
    ).toBe(200)
  })
})

describe('a token swap re-checks every live subscription', () => {
  it('ends, with forbidden, the subscriptions the new token no longer allows, and keeps the others', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const socket = await connect(server, await signToken({ sub: 'alice', channels: ['a', 'b'] }))
    socket.send({ type: 'subscribe', id: 1, channel: 'a' })
    socket.send({ type: 'subscribe', id: 2, channel: 'b' })
    await socket.next((f) => f.id === 2 && f.type === 'subscribed')
    socket.send({ type: 'auth', id: 3, token: await signToken({ sub: 'alice', channels: ['a'] }) })
    expect(await socket.next((f) => f.type === 'error' && f.channel === 'b')).toMatchObject({
      code: 'forbidden',
    })
    expect(await socket.next((f) => f.id === 3)).toMatchObject({ type: 'ack' })
    await server.publish('b', 'not for alice any more')
    await server.publish('a', 'still hers')
    await socket.next((f) => f.type === 'message' && f.channel === 'a')
    expect(socket.messages('b')).toEqual([])
  })

  it('does the same with an authorize hook', async () => {
    const revoked = new Set<string>()
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: (_user, channel) => !revoked.has(channel),
    })
    const token = await signToken({ sub: 'alice' })
    const socket = await connect(server, token)
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    await socket.next((f) => f.id === 1)
    revoked.add('room')
    socket.send({ type: 'auth', id: 2, token: await signToken({ sub: 'alice', expSec: 600 }) })
    expect(await socket.next((f) => f.type === 'error' && f.channel === 'room')).toMatchObject({
      code: 'forbidden',
    })
    await server.publish('room', 'x')
    await socket.next((f) => f.id === 2)
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    expect(socket.messages('room')).toEqual([])
  })
})

describe('odd input is a client error, never internal, and logged at debug at most', () => {
  const deep = (depth: number) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`)

  it('answers JSON nested 20,000 deep with bad_request on WebSocket, HTTP and server.publish', async () => {
    const logger = captureLogger()
    const server = await startServer({ logger, limits: { maxMessageBytes: 1024 * 1024 } })
    const socket = await connect(server)
    const text = `{"type":"publish","id":1,"channel":"c","data":${'['.repeat(20_000)}${']'.repeat(20_000)}}`
    socket.send(text)
    expect(await socket.next((f) => f.id === 1)).toMatchObject({ type: 'error', code: 'bad_request' })
    const http = await fetch(`${server.url}/publish`, {
      method: 'POST',
      body: `{"channel":"c","data":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    })
    expect(http.status).toBe(400)
    expect((await http.json()).error.code).toBe('bad_request')
    await expect(server.publish('c', deep(20_000))).rejects.toMatchObject({ code: 'bad_request' })
    // The socket keeps working.
    socket.send({ type: 'publish', id: 2, channel: 'c', data: [[1]] })
    expect(await socket.next((f) => f.id === 2)).toMatchObject({ type: 'ack' })
    expect(logger.records.filter((r) => r.level !== 'debug')).toEqual([
      expect.objectContaining({ message: '[holdfast] listening' }),
    ])
  })

  it('answers a malformed upgrade request line with 400, without an error-level log line', async () => {
    const logger = captureLogger()
    const server = await startServer({ logger })
    const { port } = new URL(server.url)
    const answer = await new Promise<string>((resolve) => {
      const socket = netConnect(Number(port), '127.0.0.1', () => {
        socket.write(
          'GET //[ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        )
      })
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk
      })
      socket.on('close', () => resolve(text))
      socket.on('error', () => resolve(text))
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400/)
    expect(logger.records.filter((r) => r.level === 'error' || r.level === 'warn')).toEqual([])
  })

  it('logs refused tokens and origins at debug level only', async () => {
    const logger = captureLogger()
    const server = await startServer({ logger, auth: { secret: SECRET } })
    await fetch(`${server.url}/poll?channel=a`, { headers: bearer('not.a.jwt') })
    await fetch(`${server.url}/poll?channel=a`, { headers: { origin: 'https://evil.example' } })
    const ws = new TestSocket(wsUrl(server))
    await ws.opened
    ws.send({ type: 'connect', token: 'not.a.jwt' })
    await ws.closed
    const refusals = logger.records.filter((r) => /refused/.test(r.message))
    expect(refusals.length).toBeGreaterThanOrEqual(3)
    expect(refusals.every((r) => r.level === 'debug')).toBe(true)
  })
})

describe('an open server binds loopback', () => {
  // Reached over ::1 only when bound to every interface (or to ::1 itself); a 127.0.0.1 bind refuses it.
  const overIpv6 = (port: number | undefined) =>
    fetch(`http://[::1]:${port}/health`).then(
      (r) => r.status,
      () => 'refused',
    )

  it('listens on 127.0.0.1 without auth unless a host is given, and on every interface with auth', async () => {
    const open = createServer()
    await open.listen(0)
    expect(open.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await overIpv6(open.port)).toBe('refused')
    await open.close()
    const secured = createServer({ auth: { secret: SECRET } })
    await secured.listen(0)
    expect(await overIpv6(secured.port)).toBe(200)
    await secured.close()
    const explicit = createServer()
    await explicit.listen(0, { host: '::' })
    expect(await overIpv6(explicit.port)).toBe(200)
    await explicit.close()
  })
})

describe('HTTP timeouts and a cap per address', () => {
  it('closes a connection that never finishes its headers, and keeps SSE streams past the request timeout', async () => {
    const server = await startServer({
      http: { headersTimeoutMs: 200, requestTimeoutMs: 300 },
      sse: { heartbeatMs: 100 },
    })
    const { port } = new URL(server.url)
    const closed = await new Promise<string>((resolve) => {
      const socket = netConnect(Number(port), '127.0.0.1', () =>
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n'),
      )
      let text = ''
      socket.on('data', (chunk) => {
        text += chunk
      })
      socket.on('close', () => resolve(text))
    })
    expect(closed).toMatch(/^HTTP\/1\.1 408/)
    // The stream is a response, not a request: it outlives requestTimeoutMs.
    const stream = await openSse(server, 'channel=a')
    await stream.until((s) => s.comments.length >= 6)
    expect(stream.ended).toBe(false)
  })

  it('refuses connections past limits.maxConnectionsPerAddress, on every transport', async () => {
    const server = await startServer({ limits: { maxConnectionsPerAddress: 2 } })
    await connect(server)
    const stream = await openSse(server, 'channel=a')
    await stream.until((s) => s.events.length === 1)
    const third = new TestSocket(wsUrl(server))
    await third.opened
    const closed = await third.closed
    expect(closed.code).toBe(CloseCode.RateLimited)
    expect(parseRetryAfterReason(closed.reason)).toBe(1000)
    const sse = await fetch(`${server.url}/sse?channel=a`)
    expect(sse.status).toBe(429)
    expect((await sse.json()).error.code).toBe('rate_limited')
    await stream.cancel()
    await eventually(async () =>
      expect((await fetch(`${server.url}/poll?channel=a&timeoutMs=0`)).status).toBe(200),
    )
  })
})
