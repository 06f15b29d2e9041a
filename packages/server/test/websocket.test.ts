import { CloseCode, compareCursors, parseCursor } from '@holdfast/protocol'
import fc from 'fast-check'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { memoryBroker } from '../src/index'
import { controllableBroker } from './helpers/controllableBroker'
import {
  captureLogger,
  connect,
  eventually,
  type Frame,
  SECRET,
  signToken,
  startServer,
  TestSocket,
  wsUrl,
} from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

const data = (frames: Frame[]) => frames.map((f) => f.data)

describe('WebSocket handshake', () => {
  it('selects holdfast.v1, negotiates no compression, and welcomes with the limits', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 4096 } })
    const socket = new TestSocket(wsUrl(server))
    await socket.opened
    expect(socket.ws.protocol).toBe('holdfast.v1')
    expect(socket.ws.extensions).toBe('')
    socket.send({ type: 'connect' })
    const welcome = await socket.nextOfType('welcome')
    expect(welcome).toMatchObject({ maxMessageBytes: 4096 })
    expect(typeof welcome.session).toBe('string')
    expect(welcome.tokenExpiresAt).toBeUndefined()
  })

  it('refuses an upgrade that does not offer the subprotocol', async () => {
    const server = await startServer()
    const socket = new TestSocket(wsUrl(server), { protocols: ['other'] })
    await expect(socket.opened).rejects.toThrow('400')
  })

  it('refuses permessage-deflate even when the client asks for it', async () => {
    const server = await startServer()
    const ws = new WebSocket(wsUrl(server), ['holdfast.v1'], { perMessageDeflate: true })
    await new Promise((resolve) => ws.once('open', resolve))
    expect(ws.extensions).toBe('')
    ws.terminate()
  })

  it('answers a frame before connect with bad_frame and closes 4400', async () => {
    const server = await startServer()
    const socket = new TestSocket(wsUrl(server))
    await socket.opened
    socket.send({ type: 'subscribe', id: 1, channel: 'a' })
    expect(await socket.nextOfType('error')).toMatchObject({ code: 'bad_frame' })
    expect((await socket.closed).code).toBe(CloseCode.ProtocolError)
  })

  it('closes with 4004 when no connect arrives within the handshake timeout', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock })
    const idle = new TestSocket(wsUrl(server))
    await idle.opened
    const prompt = await connect(server)
    clock.advance(9_999)
    await prompt.send({ type: 'ping' })
    await prompt.nextOfType('pong')
    expect(idle.ws.readyState).toBe(WebSocket.OPEN)
    clock.advance(1)
    expect((await idle.closed).code).toBe(CloseCode.HandshakeTimeout)
    // The socket that did connect in time is not affected.
    prompt.send({ type: 'ping' })
    await prompt.nextOfType('pong')
  })

  it('answers client ping frames with pong', async () => {
    const server = await startServer()
    const socket = await connect(server)
    socket.send({ type: 'ping' })
    expect(await socket.nextOfType('pong')).toEqual({ type: 'pong' })
  })

  it('pings at the protocol level and terminates a peer that stops answering', async () => {
    const clock = new ManualClock()
    const server = await startServer({ clock, limits: { pingIntervalMs: 1000 } })
    const healthy = await connect(server)
    const dead = new TestSocket(wsUrl(server))
    // A peer that never answers pings, like a half-open TCP connection.
    ;(dead.ws as unknown as { _autoPong: boolean })._autoPong = false
    dead.ws.pong = () => {}
    await dead.opened
    dead.send({ type: 'connect' })
    await dead.nextOfType('welcome')
    let pings = 0
    healthy.ws.on('ping', () => pings++)
    clock.advance(1000)
    await eventually(() => expect(pings).toBe(1))
    // A JSON round trip after the pong guarantees the server has processed the pong.
    healthy.send({ type: 'ping' })
    await healthy.nextOfType('pong')
    clock.advance(1000)
    expect((await dead.closed).code).toBe(1006)
    await eventually(() => expect(pings).toBe(2))
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN)
  })
})

describe('WebSocket subscribe and publish', () => {
  it('subscribes without since: subscribed names the head, then only later messages arrive', async () => {
    const server = await startServer()
    const before = await server.publish('room', { n: 0 })
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 7, channel: 'room' })
    const subscribed = await socket.nextOfType('subscribed')
    expect(subscribed).toEqual({
      type: 'subscribed',
      id: 7,
      channel: 'room',
      epoch: parseCursor(before.cursor)!.epoch,
      cursor: before.cursor,
      recovered: true,
    })
    const after = await server.publish('room', { n: 1 })
    expect(await socket.nextOfType('message')).toEqual({
      type: 'message',
      channel: 'room',
      cursor: after.cursor,
      data: { n: 1 },
    })
    expect(socket.messages()).toHaveLength(1)
  })

  it('replays from since, then goes live, with subscribed first', async () => {
    const server = await startServer()
    const cursors: string[] = []
    for (let n = 1; n <= 5; n++) cursors.push((await server.publish('room', n)).cursor)
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'room', since: cursors[1] })
    await socket.nextOfType('subscribed')
    await server.publish('room', 6)
    await eventually(() => expect(data(socket.messages())).toEqual([3, 4, 5, 6]))
    const types = socket.frames.map((f) => f.type)
    expect(types.indexOf('subscribed')).toBeLessThan(types.indexOf('message'))
  })

  it('leaves no gap and no duplicate at the replay/live seam while publishing concurrently', async () => {
    const { broker, control } = controllableBroker(memoryBroker())
    const server = await startServer({ broker })
    onTestFinished(() => broker.close())
    const total = 300
    const { epoch } = await broker.read('seam')
    let published = 0
    // Every read waits until 20 more messages were published: those arrive live while the subscription
    // replays (the seam), whatever the speed of this machine.
    control.beforeRead = () => {
      const target = Math.min(total, published + 20)
      return eventually(() => expect(published).toBeGreaterThanOrEqual(target)).then(() => {})
    }
    const publisher = (async () => {
      while (published < total) {
        await server.publish('seam', ++published)
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const sockets: TestSocket[] = []
    // Subscribers join at different moments, each resuming from the very beginning.
    for (const joinAt of [1, 40, 120, 200]) {
      await eventually(() => expect(published).toBeGreaterThanOrEqual(joinAt))
      const socket = await connect(server)
      socket.send({ type: 'subscribe', id: 1, channel: 'seam', since: `${epoch}:0` })
      sockets.push(socket)
    }
    await publisher
    for (const socket of sockets) {
      await eventually(() => expect(socket.messages()).toHaveLength(total))
      expect(data(socket.messages())).toEqual(Array.from({ length: total }, (_, i) => i + 1))
      const cursors = socket.messages().map((m) => m.cursor)
      for (let i = 1; i < cursors.length; i++)
        expect(compareCursors(cursors[i - 1]!, cursors[i]!)).toBeLessThan(0)
      expect(await socket.nextOfType('subscribed')).toMatchObject({ recovered: true })
    }
  })

  it('says recovered:false and replays what is left when since cannot be honoured', async () => {
    const server = await startServer({ history: { size: 2 } })
    const first = await server.publish('room', 1)
    for (let n = 2; n <= 4; n++) await server.publish('room', n)
    const trimmed = await connect(server)
    trimmed.send({ type: 'subscribe', id: 1, channel: 'room', since: first.cursor })
    expect(await trimmed.nextOfType('subscribed')).toMatchObject({ recovered: false })
    await eventually(() => expect(data(trimmed.messages())).toEqual([3, 4]))
    const otherEpoch = await connect(server)
    otherEpoch.send({ type: 'subscribe', id: 1, channel: 'room', since: 'previousLife:99' })
    expect(await otherEpoch.nextOfType('subscribed')).toMatchObject({ recovered: false })
    await eventually(() => expect(data(otherEpoch.messages())).toEqual([3, 4]))
    const future = await connect(server)
    future.send({
      type: 'subscribe',
      id: 1,
      channel: 'room',
      since: `${parseCursor(first.cursor)!.epoch}:99`,
    })
    expect(await future.nextOfType('subscribed')).toMatchObject({ recovered: false })
    await eventually(() => expect(data(future.messages())).toEqual([3, 4]))
  })

  it('acknowledges a publish with the stored cursor and delivers it', async () => {
    const server = await startServer()
    const reader = await connect(server)
    reader.send({ type: 'subscribe', id: 1, channel: 'room' })
    await reader.nextOfType('subscribed')
    const writer = await connect(server)
    writer.send({ type: 'publish', id: 9, channel: 'room', data: { text: 'hi' } })
    const ack = await writer.nextOfType('ack')
    expect(ack).toMatchObject({ id: 9, duplicate: false })
    expect(parseCursor(ack.cursor)).not.toBeNull()
    expect(await reader.nextOfType('message')).toMatchObject({ cursor: ack.cursor, data: { text: 'hi' } })
  })

  it('stores a publish with a repeated key once and acknowledges the first cursor', async () => {
    const server = await startServer()
    const reader = await connect(server)
    reader.send({ type: 'subscribe', id: 1, channel: 'room' })
    await reader.nextOfType('subscribed')
    const writer = await connect(server)
    writer.send({ type: 'publish', id: 1, channel: 'room', data: 'once', key: 'k-1' })
    const first = await writer.nextOfType('ack')
    writer.send({ type: 'publish', id: 2, channel: 'room', data: 'once', key: 'k-1' })
    const second = await writer.nextOfType('ack')
    expect(second).toEqual({ type: 'ack', id: 2, cursor: first.cursor, duplicate: true })
    await server.publish('room', 'marker')
    await eventually(() => expect(data(reader.messages())).toEqual(['once', 'marker']))
    // The same key over HTTP is the same idempotency window.
    const http = await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' },
      body: JSON.stringify({ channel: 'room', data: 'once' }),
    })
    expect(await http.json()).toEqual({ cursor: first.cursor, duplicate: true })
  })

  it('unsubscribes', async () => {
    const server = await startServer()
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    await socket.nextOfType('subscribed')
    socket.send({ type: 'unsubscribe', id: 2, channel: 'room' })
    expect(await socket.nextOfType('unsubscribed')).toEqual({ type: 'unsubscribed', id: 2, channel: 'room' })
    await server.publish('room', 'unseen')
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    expect(socket.messages()).toHaveLength(0)
  })

  it('limits subscriptions per connection', async () => {
    const server = await startServer({ limits: { maxSubscriptionsPerConnection: 2 } })
    const socket = await connect(server)
    for (const [id, channel] of [
      [1, 'a'],
      [2, 'b'],
    ] as const) {
      socket.send({ type: 'subscribe', id, channel })
      await socket.nextOfType('subscribed')
    }
    socket.send({ type: 'subscribe', id: 3, channel: 'c' })
    expect(await socket.nextOfType('error')).toMatchObject({
      id: 3,
      code: 'too_many_subscriptions',
      channel: 'c',
    })
    // Re-subscribing to a channel it already has is a replacement, not a third subscription.
    socket.send({ type: 'subscribe', id: 4, channel: 'a' })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ id: 4, channel: 'a' })
  })
})

describe('WebSocket bad input', () => {
  const cases: Array<[string, string | Buffer, Record<string, unknown>]> = [
    ['non-JSON text', '{nope', { code: 'bad_frame' }],
    ['a JSON array', '[1,2]', { code: 'bad_frame' }],
    ['binary', Buffer.from([1, 2, 3]), { code: 'bad_frame' }],
    ['an unknown type', JSON.stringify({ type: 'teleport', id: 5 }), { code: 'bad_frame', id: 5 }],
    [
      'a bad channel',
      JSON.stringify({ type: 'subscribe', id: 6, channel: 'no spaces' }),
      { code: 'invalid_channel', id: 6 },
    ],
    [
      'a bad cursor',
      JSON.stringify({ type: 'subscribe', id: 7, channel: 'ok', since: 'not-a-cursor' }),
      { code: 'invalid_cursor', id: 7 },
    ],
    [
      'a publish without data',
      JSON.stringify({ type: 'publish', id: 8, channel: 'ok' }),
      { code: 'bad_frame', id: 8 },
    ],
    ['a second connect', JSON.stringify({ type: 'connect' }), { code: 'bad_frame' }],
  ]

  it.each(cases)('answers %s with a typed error and keeps serving everyone', async (_name, raw, expected) => {
    const server = await startServer()
    const bystander = await connect(server)
    bystander.send({ type: 'subscribe', id: 1, channel: 'ok' })
    await bystander.nextOfType('subscribed')
    const socket = await connect(server)
    socket.ws.send(raw, { binary: Buffer.isBuffer(raw) })
    expect(await socket.nextOfType('error')).toMatchObject(expected)
    // Still usable afterwards.
    socket.send({ type: 'publish', id: 99, channel: 'ok', data: 'after' })
    expect(await socket.nextOfType('ack')).toMatchObject({ id: 99 })
    expect(await bystander.nextOfType('message')).toMatchObject({ data: 'after' })
    expect(socket.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('answers an oversize frame with message_too_large and closes 1009 beyond twice the limit', async () => {
    const server = await startServer({ limits: { maxMessageBytes: 1024 } })
    const socket = await connect(server)
    socket.send({ type: 'publish', id: 3, channel: 'room', data: 'x'.repeat(1500) })
    expect(await socket.nextOfType('error')).toMatchObject({ id: 3, code: 'message_too_large' })
    socket.send({ type: 'publish', id: 4, channel: 'room', data: 'small' })
    expect(await socket.nextOfType('ack')).toMatchObject({ id: 4 })
    socket.send({ type: 'publish', id: 5, channel: 'room', data: 'x'.repeat(2100) })
    expect((await socket.closed).code).toBe(CloseCode.MessageTooBig)
  })

  it('survives arbitrary frames: every rejection is a typed error and the socket keeps working', async () => {
    const server = await startServer()
    const socket = await connect(server)
    const frame = fc.oneof(
      fc.string(),
      fc.json(),
      fc
        .record(
          {
            type: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'auth', 'ping', 'connect', 'x'),
            id: fc.oneof(fc.integer(), fc.double(), fc.string()),
            channel: fc.oneof(fc.string(), fc.constantFrom('ok', 'a/b', '')),
            since: fc.oneof(fc.string(), fc.constant('e:1')),
            data: fc.jsonValue(),
            key: fc.string(),
            token: fc.string(),
          },
          { requiredKeys: ['type'] },
        )
        .map((o) => JSON.stringify(o)),
    )
    const samples = fc.sample(frame, { numRuns: 300, seed: 42 })
    for (const raw of samples) socket.ws.send(raw)
    socket.send({ type: 'publish', id: 424242, channel: 'fuzz-done', data: true })
    const ack = await socket.next((f) => f.type === 'ack' && f.id === 424242)
    expect(ack.cursor).toBeDefined()
    const known = new Set(['welcome', 'ack', 'error', 'pong', 'subscribed', 'unsubscribed', 'message'])
    for (const f of socket.frames) expect(known.has(f.type)).toBe(true)
    for (const f of socket.frames.filter((x) => x.type === 'error'))
      expect([
        'bad_frame',
        'invalid_channel',
        'invalid_cursor',
        'message_too_large',
        'bad_request',
      ]).toContain(f.code)
  })
})

describe('WebSocket auth', () => {
  it('closes 4101 for a missing or invalid token and 4100 for an expired one', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const cases: Array<[string | undefined, number]> = [
      [undefined, CloseCode.Unauthorized],
      ['not.a.jwt', CloseCode.Unauthorized],
      [await signToken({}, 'another-secret-entirely-another-secret'), CloseCode.Unauthorized],
      [await signToken({ expSec: -10 }), CloseCode.TokenExpired],
    ]
    for (const [token, code] of cases) {
      const socket = new TestSocket(wsUrl(server))
      await socket.opened
      socket.send(token === undefined ? { type: 'connect' } : { type: 'connect', token })
      expect((await socket.closed).code).toBe(code)
    }
    const ok = await connect(server, await signToken({ expSec: 60 }))
    expect(ok.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('closes 4403 when authorizeConnection refuses the user', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      authorizeConnection: (user) => user?.sub !== 'banned',
    })
    const socket = new TestSocket(wsUrl(server))
    await socket.opened
    socket.send({ type: 'connect', token: await signToken({ sub: 'banned' }) })
    expect((await socket.closed).code).toBe(CloseCode.Forbidden)
  })

  it('refuses a forbidden channel with an error frame for that request only', async () => {
    const calls: unknown[] = []
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: async (user, channel, action) => {
        calls.push([user?.sub, channel, action])
        return !channel.startsWith('private.')
      },
    })
    const socket = await connect(server, await signToken({ sub: 'alice' }))
    socket.send({ type: 'subscribe', id: 1, channel: 'private.bob' })
    expect(await socket.nextOfType('error')).toMatchObject({
      id: 1,
      code: 'forbidden',
      channel: 'private.bob',
    })
    socket.send({ type: 'publish', id: 2, channel: 'private.bob', data: 1 })
    expect(await socket.nextOfType('error')).toMatchObject({
      id: 2,
      code: 'forbidden',
      channel: 'private.bob',
    })
    socket.send({ type: 'subscribe', id: 3, channel: 'public' })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ id: 3 })
    expect(calls).toEqual([
      ['alice', 'private.bob', 'subscribe'],
      ['alice', 'private.bob', 'publish'],
      ['alice', 'public', 'subscribe'],
    ])
  })

  it('swaps the token in band without dropping the connection', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const socket = await connect(server, await signToken({ sub: 'alice', expSec: 60 }))
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    await socket.nextOfType('subscribed')
    socket.send({ type: 'auth', id: 2, token: await signToken({ sub: 'alice', expSec: 3600 }) })
    expect(await socket.nextOfType('ack')).toEqual({ type: 'ack', id: 2 })
    socket.send({ type: 'auth', id: 3, token: 'garbage' })
    expect(await socket.nextOfType('error')).toMatchObject({ id: 3, code: 'unauthorized' })
    socket.send({ type: 'auth', id: 4, token: await signToken({ sub: 'alice', expSec: -1 }) })
    expect(await socket.nextOfType('error')).toMatchObject({ id: 4, code: 'token_expired' })
    socket.send({ type: 'auth', id: 5, token: await signToken({ sub: 'mallory', expSec: 60 }) })
    expect(await socket.nextOfType('error')).toMatchObject({ id: 5, code: 'forbidden' })
    // The subscription survived all of it.
    await server.publish('room', 'still here')
    expect(await socket.nextOfType('message')).toMatchObject({ data: 'still here' })
  })

  it('sends token_expired at expiry and closes 4100 after the grace period', async () => {
    const clock = new ManualClock()
    // Liveness pings would need real round trips between synchronous clock jumps; keep them out of the way.
    const server = await startServer({
      clock,
      auth: { secret: SECRET, expiryGraceMs: 5000 },
      limits: { pingIntervalMs: 10_000_000 },
    })
    const socket = await connect(server, await signToken({ expSec: 60, nowMs: clock.now() }))
    expect(socket.frames[0]!.tokenExpiresAt).toBe(Math.floor(clock.now() / 1000) + 60)
    clock.advance(59_999)
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    expect(socket.frames.some((f) => f.type === 'error')).toBe(false)
    clock.advance(1)
    expect(await socket.nextOfType('error')).toMatchObject({ code: 'token_expired' })
    // In the grace period requests are refused until a fresh token arrives.
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    expect(await socket.nextOfType('error')).toMatchObject({ id: 1, code: 'token_expired' })
    clock.advance(4999)
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    clock.advance(1)
    expect(await socket.closed).toMatchObject({ code: CloseCode.TokenExpired })
  })

  it('keeps the connection when a fresh token arrives within the grace period', async () => {
    const clock = new ManualClock()
    // Liveness pings would need real round trips between synchronous clock jumps; keep them out of the way.
    const server = await startServer({
      clock,
      auth: { secret: SECRET, expiryGraceMs: 5000 },
      limits: { pingIntervalMs: 10_000_000 },
    })
    const socket = await connect(server, await signToken({ expSec: 60, nowMs: clock.now() }))
    clock.advance(60_000)
    await socket.nextOfType('error')
    clock.advance(2000)
    socket.send({ type: 'auth', id: 1, token: await signToken({ expSec: 600, nowMs: clock.now() }) })
    await socket.nextOfType('ack')
    clock.advance(10_000)
    socket.send({ type: 'subscribe', id: 2, channel: 'room' })
    expect(await socket.nextOfType('subscribed')).toMatchObject({ id: 2 })
    expect(socket.ws.readyState).toBe(WebSocket.OPEN)
    // The new token's own expiry (600 s after the refresh, 590 s from here) is armed.
    clock.advance(589_999)
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    expect(socket.frames.filter((f) => f.type === 'error')).toHaveLength(1)
    clock.advance(1)
    expect(await socket.nextOfType('error')).toMatchObject({ code: 'token_expired' })
  })

  it('never logs tokens or the secret', async () => {
    const logger = captureLogger()
    const server = await startServer({ auth: { secret: SECRET }, logger })
    const expired = await signToken({ expSec: -5 })
    const forged = await signToken({}, 'forged-secret-forged-secret-forged-secret')
    for (const token of [expired, forged, 'abc.def.ghi']) {
      const socket = new TestSocket(wsUrl(server))
      await socket.opened
      socket.send({ type: 'connect', token })
      await socket.closed
      await fetch(`${server.url}/poll?channel=a`, { headers: { authorization: `Bearer ${token}` } })
    }
    const good = await signToken({ expSec: 60 })
    const socket = await connect(server, good)
    socket.send({ type: 'auth', id: 1, token: forged })
    await socket.nextOfType('error')
    const text = JSON.stringify(logger.records)
    expect(logger.records.length).toBeGreaterThan(0)
    for (const secret of [SECRET, expired, forged, good, 'abc.def.ghi']) expect(text).not.toContain(secret)
  })
})

describe('WebSocket limits and origins', () => {
  it('closes a consumer that stops reading with 4001 while others keep receiving', async () => {
    const logger = captureLogger()
    const server = await startServer({
      logger,
      history: { size: 10 },
      limits: { sendBufferBytes: 64 * 1024, maxMessageBytes: 16 * 1024 },
    })
    const slow = await connect(server)
    slow.send({ type: 'subscribe', id: 1, channel: 'firehose' })
    await slow.nextOfType('subscribed')
    const fast = await connect(server)
    fast.send({ type: 'subscribe', id: 1, channel: 'firehose' })
    await fast.nextOfType('subscribed')
    // Stop reading: the kernel buffers fill, then the server's send buffer.
    ;(slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause()
    const payload = 'x'.repeat(8 * 1024)
    let sent = 0
    while (!logger.records.some((r) => r.message.includes('slow consumer')) && sent < 4000) {
      await server.publish('firehose', { n: sent++, payload })
      if (sent % 20 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    expect(logger.records.some((r) => r.message.includes('slow consumer'))).toBe(true)
    await eventually(() => expect(fast.messages()).toHaveLength(sent))
    ;(slow.ws as unknown as { _socket: { resume(): void } })._socket.resume()
    expect((await slow.closed).code).toBe(CloseCode.SlowConsumer)
  })

  it('refuses a WebSocket from a foreign origin with 403 and allows same-host and listed origins', async () => {
    const server = await startServer()
    const foreign = new TestSocket(wsUrl(server), { headers: { origin: 'https://evil.example' } })
    await expect(foreign.opened).rejects.toThrow('403')
    const host = new URL(server.url).host
    const sameHost = new TestSocket(wsUrl(server), { headers: { origin: `http://${host}` } })
    await sameHost.opened
    const listed = await startServer({ allowedOrigins: ['https://app.example'] })
    const ok = new TestSocket(wsUrl(listed), { headers: { origin: 'https://app.example' } })
    await ok.opened
    const other = new TestSocket(wsUrl(listed), { headers: { origin: 'https://evil.example' } })
    await expect(other.opened).rejects.toThrow('403')
  })
})

describe('WebSocket broker resync', () => {
  it('re-reads from each cursor after a resync, so messages the live feed missed still arrive in order', async () => {
    const { broker, control } = controllableBroker(memoryBroker())
    onTestFinished(() => broker.close())
    const server = await startServer({ broker })
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    await socket.nextOfType('subscribed')
    await server.publish('room', 1)
    await eventually(() => expect(data(socket.messages())).toEqual([1]))
    control.deaf = true
    await server.publish('room', 2)
    await server.publish('room', 3)
    // The broker is back: it announces the resync before delivering anything newer.
    control.deaf = false
    control.fireResync()
    await server.publish('room', 4)
    await eventually(() => expect(data(socket.messages())).toEqual([1, 2, 3, 4]))
    socket.send({ type: 'ping' })
    await socket.nextOfType('pong')
    expect(data(socket.messages())).toEqual([1, 2, 3, 4])
  })

  it('makes the client resubscribe (4000) when the history it missed is gone', async () => {
    const { broker, control } = controllableBroker(memoryBroker({ history: { size: 2 } }))
    onTestFinished(() => broker.close())
    const server = await startServer({ broker })
    const socket = await connect(server)
    socket.send({ type: 'subscribe', id: 1, channel: 'room' })
    await socket.nextOfType('subscribed')
    await server.publish('room', 1)
    await socket.nextOfType('message')
    control.deaf = true
    for (let n = 2; n <= 5; n++) await server.publish('room', n)
    control.deaf = false
    control.fireResync()
    expect(await socket.closed).toEqual({ code: CloseCode.ServerRestart, reason: '{"retryAfterMs":0}' })
    expect(data(socket.messages())).toEqual([1])
  })
})
