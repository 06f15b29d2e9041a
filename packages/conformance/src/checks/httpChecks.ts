import { cursorOrder } from '../context'
import { CheckFailure, expectEqual, expectThat, NotRun } from '../outcome'
import { CHANNEL_RE, FOREIGN_EPOCH, parseCursor } from '../protocolText'
import { type Check, expectHttpError, payloads, Section } from './Check'

/** The endpoint table, §1 (channels, cursors, epochs), §2 (errors) and §6 (POST /publish). */
export const httpChecks: Check[] = [
  {
    id: 'health.ok',
    section: Section.Endpoints,
    title: 'GET /health answers 200 {"status":"ok"}',
    async run(ctx) {
      const answer = await ctx.http('GET', '/health')
      expectThat(
        answer.status === 200 && answer.json?.status === 'ok',
        '200 {"status":"ok"}',
        `HTTP ${answer.status} ${answer.text}`,
      )
    },
  },
  {
    id: 'cursor.format',
    section: Section.Cursors,
    title: 'cursors are <epoch>:<offset>, one epoch per log, offsets strictly increasing',
    async run(ctx) {
      const cursors = await ctx.publishRange(ctx.channel(), 1, 4)
      const parsed = cursors.map(parseCursor)
      expectThat(
        parsed.every((c) => c !== null),
        'every cursor to match <epoch>:<n> or <epoch>:<n>-<m> with epoch [A-Za-z0-9_-]{1,40}',
        cursors,
      )
      expectThat(
        parsed.every((c) => c!.epoch === parsed[0]!.epoch),
        'one epoch for every message of a channel',
        cursors,
      )
      for (let i = 1; i < cursors.length; i++)
        expectThat(
          cursorOrder(cursors[i - 1]!, cursors[i]!) < 0,
          'offsets that strictly increase, compared as (n, m)',
          cursors,
        )
    },
  },
  {
    id: 'cursor.empty-log',
    section: Section.Cursors,
    title: 'a channel with nothing stored is at <epoch>:0',
    async run(ctx) {
      const channel = ctx.channel()
      const answer = await ctx.poll([channel])
      const entry = answer.json?.subscribed?.[0]
      expectThat(
        answer.status === 200 && entry?.cursor === `${entry?.epoch}:0`,
        `/poll of a fresh channel to start it at "<epoch>:0" in its subscribed entry`,
        `HTTP ${answer.status} ${answer.text}`,
      )
    },
  },
  {
    id: 'channel.names',
    section: Section.Cursors,
    title: 'channel names are 1 to 200 of A-Z a-z 0-9 _ - . : @ / ~, nothing else',
    async run(ctx) {
      const prefix = `${ctx.channel()}.`
      const alphabet = 'AZaz09_-.:@/~'
      const longest = `${prefix}${alphabet}`.padEnd(200, 'x')
      expectThat(CHANNEL_RE.test(longest), 'a valid test name', longest)
      await ctx.publish(longest, { n: 1 })
      for (const bad of [`${longest}x`, `${prefix}a=b`, `${prefix}a,b`, `${prefix}sp ace`, '']) {
        const answer = await ctx.postPublish(bad, { n: 1 })
        expectHttpError(answer, 400, 'invalid_channel', `POST /publish to ${JSON.stringify(bad.slice(-12))}`)
      }
    },
  },
  {
    id: 'resume.other-epoch',
    section: Section.Cursors,
    title: 'a resume from another epoch is recovered: false and starts at the oldest message kept',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 3)
      const answer = await ctx.poll([channel], { since: `${channel}=${FOREIGN_EPOCH}:2` })
      expectThat(answer.status === 200, '/poll to answer 200', `HTTP ${answer.status} ${answer.text}`)
      const entry = answer.json?.subscribed?.find((s: any) => s.channel === channel)
      expectThat(entry?.recovered === false, 'a subscribed entry with recovered: false', answer.json)
      expectEqual(
        answer.json.messages.map((m: any) => m.cursor),
        cursors,
        'the replay to start at the oldest message kept:',
      )
    },
  },
  {
    id: 'errors.shape',
    section: Section.Errors,
    title: 'HTTP errors answer {"error":{"code","message"}} with a 400 for bad input',
    async run(ctx) {
      const channel = ctx.channel()
      expectHttpError(await ctx.poll([`${channel}=x`]), 400, 'invalid_channel', '/poll?channel=<bad name>')
      expectHttpError(
        await ctx.poll([channel], { since: 'not-a-cursor-map' }),
        400,
        'invalid_cursor',
        '/poll with a bad since',
      )
      expectHttpError(await ctx.http('GET', '/poll'), 400, 'bad_request', '/poll without a channel')
    },
  },
  {
    id: 'errors.unauthorized',
    section: Section.Errors,
    title: 'a missing or invalid token is 401 unauthorized',
    async run(ctx) {
      ctx.requireAuth()
      const channel = ctx.channel()
      expectHttpError(
        await ctx.poll([channel], { token: null }),
        401,
        'unauthorized',
        '/poll without a token',
      )
      expectHttpError(
        await ctx.poll([channel], { token: 'not-a-valid-token' }),
        401,
        'unauthorized',
        '/poll with a garbage token',
      )
      expectHttpError(
        await ctx.postPublish(channel, { n: 1 }, { token: null }),
        401,
        'unauthorized',
        'POST /publish without a token',
      )
    },
  },
  {
    id: 'errors.token-expired',
    section: Section.Errors,
    title: 'an expired token is 401 token_expired; one signed with another key is 401 unauthorized',
    async run(ctx) {
      ctx.requireSecret()
      const channel = ctx.channel()
      const expired = await ctx.mint({ exp: Math.floor(Date.now() / 1000) - 60 })
      expectHttpError(
        await ctx.poll([channel], { token: expired }),
        401,
        'token_expired',
        '/poll with an expired token',
      )
      const forged = await ctx.mint({ secret: 'not-the-servers-secret-not-the-servers' })
      expectHttpError(
        await ctx.poll([channel], { token: forged }),
        401,
        'unauthorized',
        '/poll with a forged token',
      )
    },
  },
  {
    id: 'errors.origin',
    section: Section.Errors,
    title: 'a request from an origin the server does not allow is 403 forbidden',
    async run(ctx) {
      const origin = ctx.run.options.refusedOrigin
      if (!origin) {
        throw new NotRun('--refused-origin, an Origin this server refuses')
      }
      const answer = await ctx.poll([ctx.channel()], { headers: { origin } })
      expectHttpError(answer, 403, 'forbidden', `/poll with Origin: ${origin}`)
    },
  },
  {
    id: 'errors.rate-limited',
    section: Section.Errors,
    title:
      'past the connection rate limit: SSE 429 rate_limited with Retry-After, WebSocket close 4003 {"retryAfterMs"}',
    async run(ctx) {
      const burst = ctx.run.options.connectionRateBurst
      if (burst === undefined)
        throw new NotRun(
          '--connection-rate-burst, on a server started with a connection rate limit (run alone)',
        )
      const channel = ctx.channel()
      const streams = await Promise.all(Array.from({ length: burst + 2 }, () => ctx.sse([channel])))
      const refused = streams.find((s) => s.status !== 200)
      expectThat(
        refused,
        `one of ${burst + 2} SSE streams opened at once to be refused`,
        streams.map((s) => s.status),
      )
      expectHttpError(
        {
          status: refused.status,
          headers: refused.headers,
          text: refused.body ?? '',
          json: refused.errorBody,
        },
        429,
        'rate_limited',
        'an SSE stream past the rate limit (PROTOCOL.md §2: 429 / 503 are rate limited / draining)',
      )
      expectThat(
        /^\d+$/.test(refused.headers.get('retry-after') ?? ''),
        'Retry-After: <seconds>',
        refused.headers.get('retry-after'),
      )
      // Admission comes after identity (PROTOCOL.md §3): each socket must send `connect` before the server
      // can spend its budget, or refuse it. A server that refuses earlier (at the upgrade) passes too.
      const token = await ctx.token()
      const sockets = Array.from({ length: burst + 2 }, () => ctx.socket())
      await Promise.all(
        sockets.map(async (s) => {
          await s.open().catch(() => {})
          if (s.opened && !s.closed)
            s.send(token === undefined ? { type: 'connect' } : { type: 'connect', token })
        }),
      )
      const expected = `one of ${burst + 2} WebSockets opened at once, each sending connect, to be closed with 4003`
      const closed = await Promise.any(
        sockets.map((s) => s.until(() => (s.closed?.code === 4003 ? s.closed : undefined), expected)),
      ).catch(() => {
        throw new CheckFailure(expected, sockets.map((s) => s.summary()).join(' || '))
      })
      let reason: any
      try {
        reason = JSON.parse(closed.reason)
      } catch {
        reason = closed.reason
      }
      expectThat(
        typeof reason?.retryAfterMs === 'number' && reason.retryAfterMs >= 0,
        'close 4003 with reason {"retryAfterMs":<n ≥ 0>}',
        closed,
      )
    },
  },
  {
    id: 'publish.ok',
    section: Section.Publish,
    title: 'POST /publish answers 200 {"cursor","duplicate":false} and the message is stored',
    async run(ctx) {
      const channel = ctx.channel()
      const start = await ctx.poll([channel])
      const since = start.json?.since
      const answer = await ctx.postPublish(channel, { n: 1, text: 'héllo' })
      expectThat(
        answer.status === 200 &&
          parseCursor(answer.json?.cursor) !== null &&
          answer.json?.duplicate === false &&
          (answer.headers.get('content-type') ?? '').includes('application/json'),
        '200 application/json {"cursor":"<epoch>:<offset>","duplicate":false}',
        `HTTP ${answer.status} ${answer.headers.get('content-type')} ${answer.text}`,
      )
      const read = await ctx.poll([channel], { since })
      expectEqual(
        read.json?.messages,
        [{ channel, cursor: answer.json.cursor, data: { n: 1, text: 'héllo' } }],
        'the next poll to hold the message as stored:',
      )
    },
  },
  {
    id: 'publish.idempotency-key',
    section: Section.Publish,
    title: 'the same Idempotency-Key answers the first cursor with duplicate: true and stores nothing',
    async run(ctx) {
      const channel = ctx.channel()
      const since = (await ctx.poll([channel])).json?.since
      const key = ctx.key()
      const first = await ctx.publish(channel, { n: 1 }, key)
      const again = await ctx.postPublish(channel, { n: 1 }, { key })
      expectEqual(again.json, { cursor: first.cursor, duplicate: true }, 'the repeat to answer')
      const after = await ctx.publish(channel, { n: 2 })
      const read = await ctx.poll([channel], { since })
      expectEqual(
        read.json?.messages?.map((m: any) => m.cursor),
        [first.cursor, after.cursor],
        'history to hold the keyed message once:',
      )
    },
  },
  {
    id: 'publish.key-per-channel',
    section: Section.Publish,
    title: 'idempotency keys are scoped per channel',
    async run(ctx) {
      const key = ctx.key()
      const b = ctx.channel('b')
      const since = (await ctx.poll([b])).json?.since
      await ctx.publish(ctx.channel('a'), { n: 1 }, key)
      const answer = await ctx.postPublish(b, { n: 2 }, { key })
      expectThat(
        answer.status === 200 && answer.json?.duplicate === false,
        'the same key on another channel to store a new message (duplicate: false)',
        `HTTP ${answer.status} ${answer.text}`,
      )
      const read = await ctx.poll([b], { since })
      expectEqual(
        read.json?.messages,
        [{ channel: b, cursor: answer.json.cursor, data: { n: 2 } }],
        'the other channel to hold it:',
      )
    },
  },
  {
    id: 'publish.bad-input',
    section: Section.Publish,
    title: 'a bad body or Idempotency-Key is 400; a body over maxMessageBytes is 413',
    async run(ctx) {
      const channel = ctx.channel()
      expectHttpError(
        await ctx.postPublish(channel, 1, { body: '{not json' }),
        400,
        'bad_request',
        'a body that is not JSON',
      )
      expectHttpError(
        await ctx.postPublish(channel, 1, { body: JSON.stringify({ channel }) }),
        400,
        'bad_request',
        'a body without data',
      )
      expectHttpError(
        await ctx.postPublish(channel, 1, { key: 'k'.repeat(201) }),
        400,
        'bad_request',
        'an Idempotency-Key of 201 characters',
      )
      expectHttpError(
        await ctx.postPublish(channel, 1, { key: 'has a space' }),
        400,
        'bad_request',
        'an Idempotency-Key with spaces',
      )
      const max = ctx.facts.maxMessageBytes
      expectHttpError(
        await ctx.postPublish(channel, 'x'.repeat(max + 1)),
        413,
        'message_too_large',
        `a body over maxMessageBytes (${max})`,
      )
    },
  },
]

/** For checks that compare a replay with what was published. */
export function expectPayloads(items: Array<{ data?: any }>, expected: number[], what: string): void {
  expectEqual(payloads(items), expected, what)
}
