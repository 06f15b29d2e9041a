import { type CheckContext, cursorOrder } from '../context'
import { expectEqual, expectThat, NotRun } from '../outcome'
import { isCursor, parseCursor } from '../protocolText'
import { sleep } from '../wait'
import type { RawSocket } from '../wire/rawSocket'
import { type Check, payloads, Section } from './Check'

/** Sends a request frame and waits for the reply (or error) that echoes its id. */
async function request(
  ctx: CheckContext,
  socket: RawSocket,
  frame: Record<string, unknown>,
  expected: string,
) {
  const id = ctx.requestId()
  socket.send({ ...frame, id })
  return socket.frame((f) => f.id === id && f.type !== 'message', expected)
}

/** A ping answered with a pong: the socket is open and still served. */
async function stillServed(socket: RawSocket, after: string): Promise<void> {
  const from = socket.frames.length
  socket.send({ type: 'ping' })
  await socket.frame(
    (f) => f.type === 'pong',
    `the socket to stay open and answer ping with pong ${after}`,
    from,
  )
  expectThat(!socket.closed, `the socket to stay open ${after}`, socket.summary())
}

/**
 * Publishes `{ n }` and waits until it arrives: anything sent before it (a duplicate, a message that
 * should not come) has arrived by then too, on a connection that keeps order. Returns its cursor.
 */
async function untilSentinel(ctx: CheckContext, socket: RawSocket, channel: string, from: number, n: number) {
  const { cursor } = await ctx.publish(channel, { n })
  await socket.until(
    () => (ctx.messagesOf(socket, channel, from).some((m) => m.cursor === cursor) ? true : undefined),
    `the message published last ({"n":${n}}) to arrive`,
  )
  return cursor
}

/** Waits for the close and checks its code. */
async function expectClose(
  socket: RawSocket,
  code: number,
  what: string,
  deadlineMs?: number,
): Promise<void> {
  const closed = await socket.until(() => socket.closed, `${what}: close ${code}`, deadlineMs)
  expectThat(closed.code === code, `${what}: close ${code}`, socket.summary())
}

export const websocketChecks: Check[] = [
  // ── Handshake ────────────────────────────────────────────────────────────
  {
    id: 'ws.handshake',
    section: Section.Handshake,
    title: 'subprotocol holdfast.v1; connect is answered with welcome {session, maxMessageBytes}',
    async run(ctx) {
      const { socket, welcome } = await ctx.connected()
      expectThat(
        socket.protocol === 'holdfast.v1',
        'the server to select subprotocol holdfast.v1',
        socket.protocol,
      )
      expectThat(
        typeof welcome.session === 'string' &&
          welcome.session.length > 0 &&
          Number.isInteger(welcome.maxMessageBytes) &&
          welcome.maxMessageBytes > 0,
        '{"type":"welcome","session":"…","maxMessageBytes":<positive integer>}',
        welcome,
      )
    },
  },
  {
    id: 'ws.handshake.token-expires-at',
    section: Section.Handshake,
    title: "welcome carries tokenExpiresAt, the token's exp in seconds",
    async run(ctx) {
      ctx.requireSecret()
      const exp = Math.floor(Date.now() / 1000) + 1800
      const { welcome } = await ctx.connected(await ctx.mint({ exp }))
      expectThat(welcome.tokenExpiresAt === exp, `welcome.tokenExpiresAt ${exp}`, welcome)
    },
  },
  {
    id: 'ws.handshake.refused-token',
    section: Section.Handshake,
    title: 'connect without a token, or with an invalid one, is closed with 4101',
    async run(ctx) {
      ctx.requireAuth()
      for (const [token, what] of [
        [undefined, 'connect without a token'],
        ['not-a-valid-token', 'connect with a garbage token'],
      ] as const) {
        const socket = ctx.socket()
        await socket.open()
        socket.send(token === undefined ? { type: 'connect' } : { type: 'connect', token })
        await expectClose(socket, 4101, what)
      }
    },
  },
  {
    id: 'ws.handshake.expired-token',
    section: Section.Handshake,
    title: 'connect with an expired token is closed with 4100',
    async run(ctx) {
      ctx.requireSecret()
      const socket = ctx.socket()
      await socket.open()
      socket.send({ type: 'connect', token: await ctx.mint({ exp: Math.floor(Date.now() / 1000) - 60 }) })
      await expectClose(socket, 4100, 'connect with an expired token')
    },
  },
  {
    id: 'ws.handshake.first-frame',
    section: Section.Handshake,
    title: 'a frame other than connect first is answered bad_frame, then closed with 4400',
    async run(ctx) {
      const socket = ctx.socket()
      await socket.open()
      socket.send({ type: 'subscribe', id: 1, channel: ctx.channel() })
      await socket.frame(
        (f) => f.type === 'error' && f.code === 'bad_frame',
        'an error frame with code bad_frame',
      )
      await expectClose(socket, 4400, 'subscribe before connect')
    },
  },
  {
    id: 'ws.handshake.timeout',
    section: Section.Handshake,
    title: 'a socket that sends no connect in time is closed with 4004',
    async run(ctx) {
      const socket = ctx.socket()
      await socket.open()
      await expectClose(
        socket,
        4004,
        `no connect within the handshake timeout (${ctx.timings.handshakeTimeoutMs} ms)`,
        ctx.timings.handshakeTimeoutMs + ctx.deadlineMs,
      )
    },
  },

  // ── Client and server frames ─────────────────────────────────────────────
  {
    id: 'ws.subscribe.live',
    section: Section.Frames,
    title: 'subscribe without since: subscribed (newest cursor, recovered: true), then only newer messages',
    async run(ctx) {
      const channel = ctx.channel()
      const before = await ctx.publishRange(channel, 1, 2)
      const { socket } = await ctx.connected()
      const id = ctx.requestId()
      socket.send({ type: 'subscribe', id, channel })
      const subscribed = await socket.frame((f) => f.id === id, 'subscribed')
      const epoch = parseCursor(before[1])!.epoch
      expectEqual(
        subscribed,
        { type: 'subscribed', id, channel, epoch, cursor: before[1], recovered: true },
        'the reply',
      )
      const index = socket.frames.indexOf(subscribed)
      const after = await ctx.publishRange(channel, 3, 4)
      const got = await ctx.waitMessages(socket, channel, 2, index)
      expectEqual(
        got,
        after.map((cursor, i) => ({ type: 'message', channel, cursor, data: { n: i + 3 } })),
        'exactly the messages stored after the subscription:',
      )
    },
  },
  {
    id: 'ws.subscribe.since',
    section: Section.Frames,
    title: 'subscribe with since: subscribed first, then the replay after since, then live messages',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 3)
      const { socket } = await ctx.connected()
      const from = socket.frames.length
      const { subscribed, index } = await ctx.subscribe(socket, channel, cursors[0])
      expectThat(
        subscribed.recovered === true && subscribed.cursor === cursors[2],
        `subscribed with recovered: true and cursor ${cursors[2]} (the newest message)`,
        subscribed,
      )
      const firstMessage = socket.frames.findIndex((f, i) => i >= from && f.type === 'message')
      expectThat(
        firstMessage === -1 || firstMessage > index,
        'subscribed before any replayed message',
        socket.summary(),
      )
      const live = await ctx.publish(channel, { n: 4 })
      const got = await ctx.waitMessages(socket, channel, 3, index)
      expectEqual(payloads(got), [2, 3, 4], 'the replay after since, then the live message:')
      expectEqual(
        got.map((m) => m.cursor),
        [cursors[1], cursors[2], live.cursor],
        'their cursors:',
      )
    },
  },
  {
    id: 'ws.unsubscribe',
    section: Section.Frames,
    title: 'unsubscribe answers unsubscribed and stops the channel, also for a channel not followed',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      const { socket } = await ctx.connected()
      await ctx.subscribe(socket, a)
      await ctx.subscribe(socket, b)
      const reply = await request(ctx, socket, { type: 'unsubscribe', channel: a }, 'unsubscribed')
      expectEqual(reply, { type: 'unsubscribed', id: reply.id, channel: a }, 'the reply')
      const index = socket.frames.indexOf(reply)
      await ctx.publish(a, { n: 1 })
      await ctx.publish(b, { n: 2 })
      await ctx.waitMessages(socket, b, 1, index)
      expectEqual(ctx.messagesOf(socket, a, index), [], `no message of "${a}" after unsubscribed:`)
      const stranger = ctx.channel('never-followed')
      const other = await request(ctx, socket, { type: 'unsubscribe', channel: stranger }, 'unsubscribed')
      expectEqual(
        other,
        { type: 'unsubscribed', id: other.id, channel: stranger },
        'unsubscribing a channel not followed:',
      )
    },
  },
  {
    id: 'ws.resubscribe',
    section: Section.EdgeCases,
    title: 'subscribing again replaces the subscription (rewinds it), without doubling live messages',
    async run(ctx) {
      const channel = ctx.channel()
      const { socket } = await ctx.connected()
      await ctx.subscribe(socket, channel)
      const cursors = await ctx.publishRange(channel, 1, 2)
      await ctx.waitMessages(socket, channel, 2)
      const { index } = await ctx.subscribe(socket, channel, cursors[0])
      await ctx.publishRange(channel, 3, 4)
      await ctx.waitMessages(socket, channel, 3, index)
      await untilSentinel(ctx, socket, channel, index, 5)
      expectEqual(
        payloads(ctx.messagesOf(socket, channel, index)),
        [2, 3, 4, 5],
        'after the second subscribe, the rewind from since and then each live message once:',
      )
    },
  },
  {
    id: 'ws.publish',
    section: Section.Frames,
    title: 'publish is acked with the stored cursor; the same key answers duplicate: true and stores nothing',
    async run(ctx) {
      const channel = ctx.channel()
      const { socket } = await ctx.connected()
      const { index } = await ctx.subscribe(socket, channel)
      const key = ctx.key()
      const ack = await request(ctx, socket, { type: 'publish', channel, data: { n: 1 }, key }, 'ack')
      expectThat(
        ack.type === 'ack' && isCursor(ack.cursor) && ack.duplicate === false,
        '{"type":"ack","id":<id>,"cursor":"<epoch>:<offset>","duplicate":false}',
        ack,
      )
      const again = await request(ctx, socket, { type: 'publish', channel, data: { n: 1 }, key }, 'ack')
      expectEqual(
        again,
        { type: 'ack', id: again.id, cursor: ack.cursor, duplicate: true },
        'the same key again:',
      )
      const other = await request(ctx, socket, { type: 'publish', channel, data: { n: 2 } }, 'ack')
      expectThat(
        other.duplicate === false && other.cursor !== ack.cursor,
        'a publish without key: a new cursor',
        other,
      )
      await ctx.waitMessages(socket, channel, 2, index)
      const sentinel = await untilSentinel(ctx, socket, channel, index, 3)
      expectEqual(
        ctx.messagesOf(socket, channel, index).map((m) => m.cursor),
        [ack.cursor, other.cursor, sentinel],
        'the keyed message delivered and stored once:',
      )
      expectEqual(payloads(ctx.messagesOf(socket, channel, index)), [1, 2, 3], 'the data as published:')
    },
  },
  {
    id: 'ws.publish.key-scope',
    section: Section.EdgeCases,
    title: 'idempotency keys are scoped per channel, and shared by the WebSocket and POST /publish',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      const { socket } = await ctx.connected()
      const key = ctx.key()
      const first = await request(ctx, socket, { type: 'publish', channel: a, data: { n: 1 }, key }, 'ack')
      const otherChannel = await request(
        ctx,
        socket,
        { type: 'publish', channel: b, data: { n: 1 }, key },
        'ack',
      )
      expectThat(
        otherChannel.type === 'ack' && otherChannel.duplicate === false,
        `the key used on "${a}" to store a new message on "${b}" (duplicate: false)`,
        otherChannel,
      )
      const overHttp = await ctx.postPublish(a, { n: 1 }, { key })
      expectEqual(
        overHttp.json,
        { cursor: first.cursor, duplicate: true },
        'the same key over POST /publish (a client that fell back to SSE resends this way):',
      )
    },
  },
  {
    id: 'ws.ping',
    section: Section.Frames,
    title: 'ping is answered with pong',
    async run(ctx) {
      const { socket } = await ctx.connected()
      await stillServed(socket, 'after a ping')
    },
  },
  {
    id: 'ws.bad-frames',
    section: Section.Frames,
    title:
      'unknown types, binary and non-JSON frames get bad_frame; bad names and cursors their codes; the socket stays',
    async run(ctx) {
      const { socket } = await ctx.connected()
      const expectError = async (send: () => void, code: string, what: string, id?: number) => {
        const from = socket.frames.length
        send()
        const error = await socket.frame(
          (f) => f.type === 'error',
          `${what}: an error frame with code ${code}`,
          from,
        )
        expectThat(
          error.code === code && typeof error.message === 'string' && (id === undefined || error.id === id),
          `${what}: {"type":"error",${id === undefined ? '' : `"id":${id},`}"code":"${code}","message":"…"}`,
          error,
        )
      }
      await expectError(
        () => socket.send({ type: 'no-such-frame', id: 90 }),
        'bad_frame',
        'an unknown frame type',
      )
      await expectError(() => socket.send(new Uint8Array([1, 2, 3])), 'bad_frame', 'a binary frame')
      await expectError(() => socket.send('{not json'), 'bad_frame', 'a frame that is not JSON')
      await expectError(
        () => socket.send({ type: 'subscribe', id: 91, channel: 'a=b' }),
        'invalid_channel',
        'subscribe to "a=b"',
        91,
      )
      await expectError(
        () => socket.send({ type: 'subscribe', id: 92, channel: ctx.channel(), since: 'not-a-cursor' }),
        'invalid_cursor',
        'subscribe with since "not-a-cursor"',
        92,
      )
      await stillServed(socket, 'after the bad frames')
    },
  },
  {
    id: 'ws.unknown-fields',
    section: Section.Frames,
    title: 'unknown fields are ignored',
    async run(ctx) {
      const channel = ctx.channel()
      const { socket } = await ctx.connected()
      const reply = await request(
        ctx,
        socket,
        { type: 'subscribe', channel, 'x-future-field': { nested: true } },
        'subscribed',
      )
      expectThat(
        reply.type === 'subscribed' && reply.channel === channel,
        'subscribed, the extra field ignored',
        reply,
      )
    },
  },
  {
    id: 'ws.auth',
    section: Section.Frames,
    title: 'auth swaps the token without reconnecting: ack',
    async run(ctx) {
      const { socket } = await ctx.connected()
      const token = ctx.run.options.secret
        ? await ctx.mint({})
        : (ctx.run.options.token ?? 'any-token-on-an-open-server')
      const ack = await request(ctx, socket, { type: 'auth', token }, 'ack')
      expectEqual(ack, { type: 'ack', id: ack.id }, 'auth with a token the server accepts:')
      await stillServed(socket, 'after auth')
    },
  },
  {
    id: 'ws.auth.refused',
    section: Section.Frames,
    title:
      "auth with an expired token gets token_expired, with another user's forbidden; the socket keeps its user",
    async run(ctx) {
      ctx.requireSecret()
      const { socket } = await ctx.connected()
      const expired = await request(
        ctx,
        socket,
        { type: 'auth', token: await ctx.mint({ exp: Math.floor(Date.now() / 1000) - 60 }) },
        'error',
      )
      expectThat(
        expired.type === 'error' && expired.code === 'token_expired',
        'auth with an expired token: error token_expired',
        expired,
      )
      const stranger = await request(
        ctx,
        socket,
        { type: 'auth', token: await ctx.mint({ sub: 'someone-else' }) },
        'error',
      )
      expectThat(
        stranger.type === 'error' && stranger.code === 'forbidden',
        'auth with a token for another sub: error forbidden',
        stranger,
      )
      await stillServed(socket, 'after the refused auth frames')
      await ctx.subscribe(socket, ctx.channel())
    },
  },

  // ── Ordering ─────────────────────────────────────────────────────────────
  {
    id: 'ws.order.seam',
    section: Section.Ordering,
    title: 'messages published during the replay follow it with no gap and no duplicate at the seam',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 20)
      const { socket } = await ctx.connected()
      const from = socket.frames.length
      socket.send({ type: 'subscribe', id: ctx.requestId(), channel, since: cursors[0] })
      // Published while the replay is read and sent; the server must hold them until it ends.
      const live = await ctx.publishRange(channel, 21, 30)
      const got = await ctx.waitMessages(socket, channel, 29, from)
      await untilSentinel(ctx, socket, channel, from, 31)
      const all = ctx.messagesOf(socket, channel, from)
      expectEqual(
        payloads(all),
        Array.from({ length: 30 }, (_, i) => i + 2),
        'messages 2 to 31, each once, in order:',
      )
      expectEqual(
        all.slice(19, 29).map((m) => m.cursor),
        live,
        'the live messages with their stored cursors:',
      )
      expectThat(got.length >= 29, '29 messages', got.length)
      for (let i = 1; i < all.length; i++)
        expectThat(
          cursorOrder(all[i - 1]!.cursor, all[i]!.cursor) < 0,
          'cursor order',
          all.map((m) => m.cursor),
        )
    },
  },

  {
    id: 'ws.resume-after-cut',
    section: Section.Ordering,
    title:
      'after a cut, a new socket subscribing since the last cursor gets exactly what was missed, in order',
    async run(ctx) {
      const channel = ctx.channel()
      const first = await ctx.connected()
      const { index } = await ctx.subscribe(first.socket, channel)
      await ctx.publishRange(channel, 1, 2)
      const seen = await ctx.waitMessages(first.socket, channel, 2, index)
      first.socket.cut()
      const missed = await ctx.publishRange(channel, 3, 5)
      const second = await ctx.connected()
      const resumed = await ctx.subscribe(second.socket, channel, seen[1]!.cursor)
      expectThat(resumed.subscribed.recovered === true, 'subscribed with recovered: true', resumed.subscribed)
      await untilSentinel(ctx, second.socket, channel, resumed.index, 6)
      const got = ctx.messagesOf(second.socket, channel, resumed.index)
      expectEqual(payloads(got), [3, 4, 5, 6], 'the messages published during the cut, then live, each once:')
      expectEqual(
        got.slice(0, 3).map((m) => m.cursor),
        missed,
        'with their stored cursors:',
      )
    },
  },

  // ── Liveness ─────────────────────────────────────────────────────────────
  {
    id: 'ws.liveness.server-ping',
    section: Section.Liveness,
    title: 'the server sends WebSocket protocol pings',
    async run(ctx) {
      const { socket } = await ctx.connected()
      if (!socket.seesPings)
        throw new NotRun('a WebSocket implementation that exposes protocol pings (the default, ws)')
      await socket.until(
        () => (socket.pings > 0 ? true : undefined),
        `a protocol ping within the ping interval (${ctx.timings.pingIntervalMs} ms)`,
        ctx.timings.pingIntervalMs + ctx.deadlineMs,
      )
    },
  },

  // ── Tokens ───────────────────────────────────────────────────────────────
  {
    id: 'ws.token.expiry',
    section: Section.Tokens,
    title: 'when the token expires: error token_expired, then close 4100 after the grace period',
    async run(ctx) {
      ctx.requireSecret()
      const exp = Math.floor(Date.now() / 1000) + 2
      const { socket } = await ctx.connected(await ctx.mint({ exp }))
      const error = await socket.frame(
        (f) => f.type === 'error',
        'an error frame with code token_expired when the token expires',
      )
      expectThat(
        error.code === 'token_expired' && error.id === undefined,
        '{"type":"error","code":"token_expired",…} without id',
        error,
      )
      await expectClose(
        socket,
        4100,
        'no auth frame within the grace period',
        ctx.timings.tokenGraceMs + ctx.deadlineMs,
      )
    },
  },
  {
    id: 'ws.token.refresh',
    section: Section.Tokens,
    title: 'an auth frame with a fresh token within the grace period keeps the socket',
    async run(ctx) {
      ctx.requireSecret()
      const { socket } = await ctx.connected(await ctx.mint({ exp: Math.floor(Date.now() / 1000) + 2 }))
      await socket.frame((f) => f.type === 'error' && f.code === 'token_expired', 'error token_expired')
      const ack = await request(ctx, socket, { type: 'auth', token: await ctx.mint({}) }, 'ack')
      expectEqual(ack, { type: 'ack', id: ack.id }, 'auth with a fresh token:')
      await sleep(ctx.timings.tokenGraceMs + 1000)
      await stillServed(socket, 'past the grace period')
    },
  },

  // ── Limits ───────────────────────────────────────────────────────────────
  {
    id: 'ws.limit.too-large',
    section: Section.Limits,
    title: 'a frame over maxMessageBytes gets message_too_large; the socket stays',
    async run(ctx) {
      const { socket, welcome } = await ctx.connected()
      const max = welcome.maxMessageBytes as number
      const id = ctx.requestId()
      socket.send({ type: 'publish', id, channel: ctx.channel(), data: 'x'.repeat(max) })
      const error = await socket.frame(
        (f) => f.type === 'error',
        'an error frame with code message_too_large',
      )
      expectThat(
        error.code === 'message_too_large' && error.id === id,
        `{"type":"error","id":${id},"code":"message_too_large",…}`,
        error,
      )
      await stillServed(socket, 'after a frame over the limit')
    },
  },
  {
    id: 'ws.limit.far-too-large',
    section: Section.Limits,
    title: 'a frame over twice maxMessageBytes closes the socket with 1009',
    async run(ctx) {
      const { socket, welcome } = await ctx.connected()
      const max = welcome.maxMessageBytes as number
      socket.send({
        type: 'publish',
        id: ctx.requestId(),
        channel: ctx.channel(),
        data: 'x'.repeat(2 * max + 1024),
      })
      await expectClose(socket, 1009, 'a frame over twice maxMessageBytes')
    },
  },

  // ── Edge cases ───────────────────────────────────────────────────────────
  {
    id: 'ws.edge.no-subprotocol',
    section: Section.EdgeCases,
    title: 'an upgrade that does not offer holdfast.v1 is refused (400); a plain GET on /ws gets 426',
    async run(ctx) {
      const socket = ctx.socket('some.other.v1')
      await socket.until(
        () => (socket.opened || socket.closed || socket.error ? true : undefined),
        'the upgrade to be refused',
      )
      expectThat(
        !socket.opened,
        'the upgrade without holdfast.v1 to be refused (the socket never opens)',
        socket.summary(),
      )
      const status = /Unexpected server response: (\d+)/.exec(socket.error ?? '')?.[1]
      if (status !== undefined)
        expectThat(status === '400', 'HTTP 400 for the refused upgrade', `HTTP ${status}`)
      const plain = await ctx.http('GET', '/ws')
      expectThat(
        plain.status === 426,
        'a plain GET on /ws to answer 426',
        `HTTP ${plain.status} ${plain.text}`,
      )
    },
  },
  {
    id: 'ws.edge.history-lost',
    section: Section.EdgeCases,
    title:
      'history lost under a live subscription closes 4000 {"retryAfterMs":0}; the resubscribe says recovered: false',
    async run(ctx) {
      const lose = ctx.run.options.loseHistory
      if (!lose) throw new NotRun("a hook that loses a channel's history (loseHistory)")
      const channel = ctx.channel()
      const { socket } = await ctx.connected()
      await ctx.subscribe(socket, channel)
      const [first] = await ctx.publishRange(channel, 1, 1)
      await ctx.waitMessages(socket, channel, 1)
      await lose(channel)
      await ctx.publish(channel, { n: 2 })
      const closed = await socket.waitClose('close 4000 once the log the subscription follows is gone')
      expectThat(closed.code === 4000, 'close 4000', socket.summary())
      expectEqual(safeJson(closed.reason), { retryAfterMs: 0 }, 'the close reason')
      const again = await ctx.connected()
      const { subscribed } = await ctx.subscribe(again.socket, channel, first)
      expectThat(
        subscribed.recovered === false,
        'the resubscribe from the old cursor: recovered: false',
        subscribed,
      )
    },
  },
]

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
