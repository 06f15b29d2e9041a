import type { CheckContext } from '../context'
import { expectEqual, expectThat } from '../outcome'
import { FOREIGN_EPOCH, parseCursorMap } from '../protocolText'
import type { SseStream } from '../wire/sseStream'
import { type Check, expectHttpError, payloads, Section } from './Check'

/** Opens a stream and waits for its `subscribed` events; fails unless it is a 200 event stream. */
async function openStream(
  ctx: CheckContext,
  channels: string[],
  init: { since?: string; lastEventId?: string; token?: string } = {},
): Promise<SseStream> {
  const stream = await ctx.sse(channels, init)
  expectThat(
    stream.status === 200 && (stream.headers.get('content-type') ?? '').startsWith('text/event-stream'),
    'GET /sse to answer 200 with Content-Type: text/event-stream',
    stream.summary(),
  )
  await stream.until(
    () =>
      stream.events.filter((e) => e.event === 'subscribed').length >= channels.length ? true : undefined,
    `one "event: subscribed" per channel (${channels.length})`,
  )
  return stream
}

function subscribedOf(stream: SseStream, channel: string) {
  return stream.events.find((e) => e.event === 'subscribed' && e.json?.channel === channel)
}

/** Waits until the stream's messages include `{ n: last }`; returns the messages of `channel`. */
async function untilPayload(stream: SseStream, channel: string, last: number) {
  await stream.until(
    () =>
      stream.messages.some((m) => m.json?.channel === channel && m.json?.data?.n === last) ? true : undefined,
    `a message event with data {"n":${last}} on "${channel}"`,
  )
  return stream.messages.filter((m) => m.json?.channel === channel).map((m) => m.json)
}

export const sseChecks: Check[] = [
  {
    id: 'sse.headers',
    section: Section.Sse,
    title: 'the stream answers text/event-stream, no-cache, X-Accel-Buffering: no and holdfast-replay-from',
    async run(ctx) {
      const channel = ctx.channel()
      const stream = await openStream(ctx, [channel])
      const h = stream.headers
      const replayFrom = parseCursorMap(h.get('holdfast-replay-from'))
      expectThat(
        (h.get('cache-control') ?? '').includes('no-cache') &&
          h.get('x-accel-buffering') === 'no' &&
          replayFrom?.has(channel) === true,
        'Cache-Control: no-cache, X-Accel-Buffering: no, holdfast-replay-from: <cursor map naming the channel>',
        JSON.stringify(Object.fromEntries(h)),
      )
    },
  },
  {
    id: 'sse.preamble',
    section: Section.Sse,
    title:
      'the stream starts with retry:, then one event: subscribed per channel whose id is the start cursor map',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      await ctx.publish(a, { n: 1 })
      const stream = await openStream(ctx, [a, b])
      expectThat(stream.retries.length > 0 && stream.retries[0]! >= 0, 'a retry: field', stream.summary())
      const first = stream.events.slice(0, 2)
      expectThat(
        first.every((e) => e.event === 'subscribed'),
        'the first two events to be "subscribed"',
        stream.summary(),
      )
      const start = parseCursorMap(first[0]!.id)
      const header = parseCursorMap(stream.headers.get('holdfast-replay-from'))
      for (const channel of [a, b]) {
        const event = subscribedOf(stream, channel)
        const data = event?.json
        expectThat(
          data &&
            typeof data.epoch === 'string' &&
            typeof data.cursor === 'string' &&
            data.cursor.startsWith(`${data.epoch}:`) &&
            data.recovered === true,
          `subscribed data {"channel":"${channel}","epoch","cursor","recovered":true}`,
          event,
        )
        expectThat(
          event?.id === first[0]!.id,
          'every subscribed event to carry the same id',
          stream.summary(),
        )
        expectThat(
          start?.get(channel) === data.cursor,
          `the id to map "${channel}" to where its stream starts`,
          event,
        )
        expectThat(header?.get(channel) === data.cursor, 'holdfast-replay-from to agree with the id', event)
      }
    },
  },
  {
    id: 'sse.message',
    section: Section.Sse,
    title: 'each message is an unnamed event, id: the cursor map after it, data: {"channel","cursor","data"}',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      const stream = await openStream(ctx, [a, b])
      const bStart = subscribedOf(stream, b)!.json.cursor
      const { cursor } = await ctx.publish(a, { n: 1 })
      const [event] = await stream.messageCount(1, 'one message event')
      expectThat(event!.event === undefined, 'an unnamed event (EventSource.onmessage fires)', event)
      expectEqual(event!.json, { channel: a, cursor, data: { n: 1 } }, 'data')
      const id = parseCursorMap(event!.id)
      expectThat(
        id?.get(a) === cursor && id?.get(b) === bStart && id.size === 2,
        `id: the cursor map after the message (${a}=${cursor},${b}=${bStart})`,
        event,
      )
    },
  },
  {
    id: 'sse.since',
    section: Section.Sse,
    title: 'a first connection resumes from ?since=<cursor map>',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 3)
      const stream = await openStream(ctx, [channel], { since: `${channel}=${cursors[0]}` })
      expectThat(
        stream.headers.get('holdfast-replay-from') === `${channel}=${cursors[0]}` &&
          !stream.headers.has('holdfast-gap'),
        `holdfast-replay-from: ${channel}=${cursors[0]} and no holdfast-gap`,
        JSON.stringify(Object.fromEntries(stream.headers)),
      )
      expectThat(
        subscribedOf(stream, channel)?.json?.recovered === true,
        'subscribed with recovered: true',
        stream.summary(),
      )
      await ctx.publish(channel, { n: 4 })
      expectEqual(
        payloads(await untilPayload(stream, channel, 4)),
        [2, 3, 4],
        'the replay after since, then live:',
      )
    },
  },
  {
    id: 'sse.last-event-id',
    section: Section.Sse,
    title: 'Last-Event-ID resumes, and wins over ?since=',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 3)
      const stream = await openStream(ctx, [channel], {
        since: `${channel}=${cursors[0]}`,
        lastEventId: `${channel}=${cursors[1]}`,
      })
      await ctx.publish(channel, { n: 4 })
      expectEqual(
        payloads(await untilPayload(stream, channel, 4)),
        [3, 4],
        'the replay after Last-Event-ID, not since:',
      )
      expectThat(
        stream.headers.get('holdfast-replay-from') === `${channel}=${cursors[1]}`,
        `holdfast-replay-from: ${channel}=${cursors[1]}`,
        stream.headers.get('holdfast-replay-from'),
      )
    },
  },
  {
    id: 'sse.resume-after-cut',
    section: Section.Sse,
    title: 'after a cut, reconnecting with the last id delivers exactly what was missed, in order',
    async run(ctx) {
      const channel = ctx.channel()
      const first = await openStream(ctx, [channel])
      await ctx.publishRange(channel, 1, 2)
      await untilPayload(first, channel, 2)
      const lastId = first.messages.at(-1)!.id!
      first.cut()
      await ctx.publishRange(channel, 3, 5)
      const second = await openStream(ctx, [channel], { lastEventId: lastId })
      await ctx.publish(channel, { n: 6 })
      expectEqual(
        payloads(await untilPayload(second, channel, 6)),
        [3, 4, 5, 6],
        'after the cut, each message once:',
      )
    },
  },
  {
    id: 'sse.resume-before-any-message',
    section: Section.Sse,
    title: 'the subscribed id alone resumes every channel of a stream that saw no message',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      const first = await openStream(ctx, [a, b])
      const id = first.events[0]!.id!
      first.cut()
      await ctx.publish(a, { n: 1 })
      await ctx.publish(b, { n: 2 })
      const second = await openStream(ctx, [a, b], { lastEventId: id })
      expectEqual(payloads(await untilPayload(second, a, 1)), [1], `"${a}" from the subscribed id:`)
      expectEqual(payloads(await untilPayload(second, b, 2)), [2], `"${b}" from the subscribed id:`)
    },
  },
  {
    id: 'sse.gap',
    section: Section.Sse,
    title:
      'a resume that cannot be honoured says holdfast-gap and recovered: false, and replays what is kept',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      await ctx.publishRange(a, 1, 2)
      const stream = await openStream(ctx, [a, b], { lastEventId: `${a}=${FOREIGN_EPOCH}:7` })
      expectThat(
        stream.headers.get('holdfast-gap') === a,
        `holdfast-gap: ${a}`,
        JSON.stringify(Object.fromEntries(stream.headers)),
      )
      expectThat(
        subscribedOf(stream, a)?.json?.recovered === false,
        `subscribed "${a}" with recovered: false`,
        stream.summary(),
      )
      expectEqual(
        payloads(await untilPayload(stream, a, 2)),
        [1, 2],
        'the replay from the oldest message kept:',
      )
    },
  },
  {
    id: 'sse.heartbeat',
    section: Section.Sse,
    title: 'an idle stream carries heartbeat comments ": hb <server time in ms>"',
    async run(ctx) {
      const stream = await openStream(ctx, [ctx.channel()])
      const comment = await stream.until(
        () => stream.comments.find((c) => /^\s*hb\s+\d+\s*$/.test(c)),
        `a ": hb <ms>" comment within the heartbeat interval (${ctx.timings.sseHeartbeatMs} ms)`,
        ctx.timings.sseHeartbeatMs + ctx.deadlineMs,
      )
      expectThat(Number(comment.trim().split(/\s+/)[1]) > 1e12, 'a server time in milliseconds', comment)
    },
  },
  {
    id: 'sse.errors',
    section: Section.Sse,
    title: 'a bad channel, a missing channel or a bad Last-Event-ID is a 400 with its code',
    async run(ctx) {
      const answer = (stream: SseStream) => ({
        status: stream.status,
        headers: stream.headers,
        text: stream.body ?? stream.summary(),
        json: stream.errorBody,
      })
      expectHttpError(answer(await ctx.sse(['a=b'])), 400, 'invalid_channel', '/sse?channel=a=b')
      expectHttpError(answer(await ctx.sse([])), 400, 'bad_request', '/sse without a channel')
      expectHttpError(
        answer(await ctx.sse([ctx.channel()], { lastEventId: 'garbage' })),
        400,
        'invalid_cursor',
        '/sse with Last-Event-ID: garbage',
      )
    },
  },
  {
    id: 'sse.token-expiry',
    section: Section.Sse,
    title: 'when the token expires the stream sends event: error with token_expired, then ends',
    async run(ctx) {
      ctx.requireSecret()
      const token = await ctx.mint({ exp: Math.floor(Date.now() / 1000) + 2 })
      const stream = await openStream(ctx, [ctx.channel()], { token })
      const event = await stream.until(
        () => stream.events.find((e) => e.event === 'error'),
        'event: error when the token expires',
      )
      expectThat(
        event.json?.type === 'error' &&
          event.json?.code === 'token_expired' &&
          typeof event.json?.message === 'string',
        'event: error whose data is an error frame {"type":"error","code":"token_expired","message":"…"}',
        event,
      )
      await stream.until(() => (stream.ended ? true : undefined), 'the stream to end after event: error')
    },
  },
]
