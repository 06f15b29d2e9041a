import { expectEqual, expectThat } from '../outcome'
import { FOREIGN_EPOCH, parseCursorMap } from '../protocolText'
import { type Check, expectHttpError, payloads, Section } from './Check'

/** PROTOCOL.md §5's answer: `{"since","messages":[…],"subscribed":[…]?}`. */
function expectPollAnswer(answer: { status: number; text: string; json: any }, what: string) {
  expectThat(
    answer.status === 200 &&
      parseCursorMap(answer.json?.since) !== null &&
      Array.isArray(answer.json?.messages) &&
      (answer.json.subscribed === undefined || Array.isArray(answer.json.subscribed)),
    `${what}: 200 {"since":"<cursor map>","messages":[…],"subscribed":[…]}`,
    `HTTP ${answer.status} ${answer.text}`,
  )
}

export const pollChecks: Check[] = [
  {
    id: 'poll.start',
    section: Section.Poll,
    title: 'a channel missing from since starts now: answered at once with its subscribed entry',
    async run(ctx) {
      const channel = ctx.channel()
      const cursors = await ctx.publishRange(channel, 1, 2)
      const answer = await ctx.poll([channel])
      expectPollAnswer(answer, 'the first poll')
      const epoch = cursors[1]!.split(':')[0]
      expectEqual(answer.json.messages, [], 'no message from before the first poll:')
      expectEqual(
        answer.json.subscribed,
        [{ channel, epoch, cursor: cursors[1], recovered: true }],
        'subscribed:',
      )
      expectEqual(
        parseCursorMap(answer.json.since)?.get(channel),
        cursors[1],
        'since for the next poll at the newest message:',
      )
    },
  },
  {
    id: 'poll.held',
    section: Section.Poll,
    title: 'a poll with a cursor for every channel is held until a message arrives, and answered with it',
    async run(ctx) {
      const channel = ctx.channel()
      const since = (await ctx.poll([channel])).json?.since
      const held = ctx.poll([channel], { since, timeoutMs: 20_000 })
      const { cursor } = await ctx.publish(channel, { n: 1 })
      const answer = await held
      expectPollAnswer(answer, 'the held poll')
      expectEqual(answer.json.messages, [{ channel, cursor, data: { n: 1 } }], 'the message that woke it:')
      expectEqual(answer.json.since, `${channel}=${cursor}`, 'since moved to the message:')
    },
  },
  {
    id: 'poll.timeout',
    section: Section.Poll,
    title: 'a held poll with no news is answered after timeoutMs with no messages and the same since',
    async run(ctx) {
      const channel = ctx.channel()
      const since = (await ctx.poll([channel])).json?.since
      const answer = await ctx.poll([channel], { since, timeoutMs: 300 })
      expectPollAnswer(answer, 'the poll that timed out')
      expectEqual(answer.json.messages, [], 'messages:')
      expectEqual(answer.json.since, since, 'since:')
    },
  },
  {
    id: 'poll.resume-after-cut',
    section: Section.Poll,
    title: 'polling again from the last since delivers exactly what was published meanwhile, in order',
    async run(ctx) {
      const channel = ctx.channel()
      const since = (await ctx.poll([channel])).json?.since
      const cursors = await ctx.publishRange(channel, 1, 3)
      const answer = await ctx.poll([channel], { since })
      expectPollAnswer(answer, 'the poll after the cut')
      expectEqual(payloads(answer.json.messages), [1, 2, 3], 'the messages published meanwhile:')
      expectEqual(
        answer.json.messages.map((m: any) => m.cursor),
        cursors,
        'their cursors:',
      )
      expectEqual(answer.json.since, `${channel}=${cursors[2]}`, 'since after the last one:')
      const next = await ctx.poll([channel], { since: answer.json.since, timeoutMs: 300 })
      expectPollAnswer(next, 'the next poll')
      expectEqual(next.json.messages, [], 'nothing twice:')
    },
  },
  {
    id: 'poll.channels',
    section: Section.Poll,
    title:
      'several channels: only those missing from since get a subscribed entry; messages of each, in order',
    async run(ctx) {
      const [a, b] = [ctx.channel('a'), ctx.channel('b')]
      const sinceA = (await ctx.poll([a])).json?.since as string
      await ctx.publishRange(a, 1, 2)
      const answer = await ctx.poll([a, b], { since: sinceA })
      expectPollAnswer(answer, 'the poll of two channels')
      expectEqual(
        (answer.json.subscribed ?? []).map((s: any) => s.channel),
        [b],
        'a subscribed entry for the channel missing from since only:',
      )
      expectEqual(payloads(answer.json.messages), [1, 2], `"${a}" messages:`)
      const map = parseCursorMap(answer.json.since)
      expectThat(
        map?.has(a) === true && map?.has(b) === true,
        'since to name both channels',
        answer.json.since,
      )
      await ctx.publish(b, { n: 3 })
      const next = await ctx.poll([a, b], { since: answer.json.since })
      expectPollAnswer(next, 'the next poll')
      expectEqual(
        next.json.messages.map((m: any) => [m.channel, m.data.n]),
        [[b, 3]],
        'the message of the other channel:',
      )
    },
  },
  {
    id: 'poll.gap',
    section: Section.Poll,
    title: 'a since that cannot be honoured gets a subscribed entry with recovered: false',
    async run(ctx) {
      const channel = ctx.channel()
      await ctx.publishRange(channel, 1, 2)
      const answer = await ctx.poll([channel], { since: `${channel}=${FOREIGN_EPOCH}:9` })
      expectPollAnswer(answer, 'the poll from another epoch')
      expectThat(
        answer.json.subscribed?.length === 1 && answer.json.subscribed[0].recovered === false,
        `one subscribed entry for "${channel}" with recovered: false`,
        answer.json,
      )
      expectEqual(payloads(answer.json.messages), [1, 2], 'the messages kept:')
    },
  },
  {
    id: 'poll.errors',
    section: Section.Poll,
    title: 'a bad channel or since is a 400 with its code',
    async run(ctx) {
      expectHttpError(await ctx.poll(['a,b']), 400, 'invalid_channel', '/poll?channel=a,b')
      expectHttpError(
        await ctx.poll([ctx.channel()], { since: 'x=y' }),
        400,
        'invalid_cursor',
        '/poll?since=x=y',
      )
    },
  },
]
