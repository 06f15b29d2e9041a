import { CheckContext, describeError, type HttpAnswer } from '../context'
import { CheckFailure, describe, expectEqual, expectThat, NotRun } from '../outcome'
import type { CloseInfo, RawSocket, ServerFrame } from '../wire/rawSocket'
import type { SseEventRecord, SseStream } from '../wire/sseStream'
import { type Check, Section } from './Check'

type Observed<T> = { ok: true; value: T } | { ok: false; error: unknown }

/** What one drain showed, seen from every kind of connection at once. */
interface DrainSession {
  health: Observed<HttpAnswer>
  newRequest: Observed<HttpAnswer>
  socket: Observed<{ reconnect: ServerFrame; close: CloseInfo; summary: string }>
  stream: Observed<{ reconnect: SseEventRecord; stream: SseStream }>
  poll: Observed<HttpAnswer>
  /** True when a socket that does not finish its closing handshake held the drain open. */
  held: boolean
}

async function observe<T>(promise: Promise<T>): Promise<Observed<T>> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    return { ok: false, error }
  }
}

function value<T>(observed: Observed<T>, expected: string, hint = ''): T {
  if (observed.ok) return observed.value
  const error = observed.error
  if (error instanceof CheckFailure || error instanceof NotRun) throw error
  throw new CheckFailure(expected, `${describeError(error)}${hint}`)
}

/**
 * Opens a WebSocket, an SSE stream and a held poll, plus a socket that stops reading so the server
 * stays in its drain while the kit looks; then starts the drain and records what each one sees.
 */
function drainSession(ctx: CheckContext): Promise<DrainSession> {
  return ctx.run.shared('drain', async () => {
    const drain = ctx.run.options.drain
    if (!drain) throw new NotRun("a way to start the server's drain (--drain-command, or the drain option)")
    // Lives until the run ends: every drain check reads this session.
    const session = new CheckContext(ctx.run, 'drain')
    ctx.run.disposeAtEnd(() => session.dispose())
    const channel = session.channel()
    const { socket } = await session.connected()
    await session.subscribe(socket, channel)
    const stream = await session.sse([channel])
    await stream.until(() => stream.events.find((e) => e.event === 'subscribed'), 'the SSE stream to open')
    const since = (await session.poll([channel])).json?.since
    const held = session.poll([channel], { since, timeoutMs: 20_000 })
    const holder = (await session.connected()).socket
    const holding = holder.pause()
    // Let the poll reach the server and be held; were it not, it is a new request and gets 503 all the same.
    await new Promise((resolve) => setTimeout(resolve, 200))

    await drain()
    const health = await observe(onFreshConnection(() => session.http('GET', '/health')))
    const newRequest = await observe(onFreshConnection(() => session.postPublish(channel, { n: 1 })))
    const [socketSeen, streamSeen, poll] = await Promise.all([
      observe(watchSocket(socket)),
      observe(watchStream(stream)),
      observe(held),
    ])
    holder.resume()
    holder.close()
    return { health, newRequest, socket: socketSeen, stream: streamSeen, poll, held: holding }
  })
}

/**
 * A draining server closes idle keep-alive connections, and a request may leave on one of them just as
 * it goes: that request fails before the server saw it. The pool may hold several such connections and each
 * failure spends one, so it is sent again until one answers (at most ten tries).
 */
async function onFreshConnection<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request()
    } catch (error) {
      if (!(error instanceof CheckFailure) || !error.actual.startsWith('request failed') || attempt >= 10)
        throw error
    }
  }
}

async function watchSocket(socket: RawSocket) {
  const reconnect = await socket.frame((f) => f.type === 'reconnect', 'a reconnect frame')
  const close = await socket.waitClose('the socket to be closed after the reconnect frame')
  return { reconnect, close, summary: socket.summary() }
}

async function watchStream(stream: SseStream) {
  const reconnect = await stream.until(
    () => stream.events.find((e) => e.event === 'reconnect'),
    'event: reconnect',
  )
  await stream.until(() => (stream.ended ? true : undefined), 'the stream to end after event: reconnect')
  return { reconnect, stream }
}

function retryAfterSeconds(answer: HttpAnswer): boolean {
  return /^\d+$/.test(answer.headers.get('retry-after') ?? '')
}

const holdHint = (session: DrainSession) =>
  session.held
    ? ''
    : ' (the server had already stopped: the kit keeps a drain open with a socket that stops reading, which needs a WebSocket implementation with pause(), such as ws)'

export const drainChecks: Check[] = [
  {
    id: 'drain.websocket',
    section: Section.Drain,
    title: 'an open WebSocket gets reconnect {retryAfterMs}, then close 4000 with the same hint',
    last: true,
    async run(ctx) {
      const session = await drainSession(ctx)
      const seen = value(session.socket, 'a reconnect frame, then close 4000')
      const n = seen.reconnect.retryAfterMs
      expectThat(
        typeof n === 'number' && n >= 0,
        '{"type":"reconnect","retryAfterMs":<n ≥ 0>}',
        seen.reconnect,
      )
      expectThat(seen.close.code === 4000, 'close 4000 after the reconnect frame', seen.summary)
      let reason: unknown
      try {
        reason = JSON.parse(seen.close.reason)
      } catch {
        reason = seen.close.reason
      }
      expectEqual(reason, { retryAfterMs: n }, 'the close reason to carry the same hint:')
    },
  },
  {
    id: 'drain.sse',
    section: Section.Drain,
    title: 'an open SSE stream gets event: reconnect {"retryAfterMs"}, then ends',
    last: true,
    async run(ctx) {
      const session = await drainSession(ctx)
      const { reconnect } = value(session.stream, 'event: reconnect, then the end of the stream')
      expectThat(
        typeof reconnect.json?.retryAfterMs === 'number' && reconnect.json.retryAfterMs >= 0,
        'event: reconnect with data {"retryAfterMs":<n ≥ 0>}',
        reconnect,
      )
    },
  },
  {
    id: 'drain.poll',
    section: Section.Drain,
    title: 'a held poll is answered 503 with Retry-After',
    last: true,
    async run(ctx) {
      const session = await drainSession(ctx)
      const answer = value(session.poll, 'the held poll answered 503')
      expectThat(
        answer.status === 503 && retryAfterSeconds(answer),
        '503 with Retry-After: <seconds>',
        `HTTP ${answer.status} Retry-After: ${answer.headers.get('retry-after')} ${answer.text}`,
      )
    },
  },
  {
    id: 'drain.health',
    section: Section.Drain,
    title: '/health answers 503 {"status":"draining"} while the server drains',
    last: true,
    async run(ctx) {
      const session = await drainSession(ctx)
      const answer = value(session.health, '503 {"status":"draining"}', holdHint(session))
      expectThat(
        answer.status === 503 && answer.json?.status === 'draining',
        '503 {"status":"draining"}',
        `HTTP ${answer.status} ${answer.text}`,
      )
    },
  },
  {
    id: 'drain.new-requests',
    section: Section.Drain,
    title: 'new requests get 503 with Retry-After while the server drains',
    last: true,
    async run(ctx) {
      const session = await drainSession(ctx)
      const answer = value(
        session.newRequest,
        'POST /publish answered 503 with Retry-After',
        holdHint(session),
      )
      expectThat(
        answer.status === 503 && retryAfterSeconds(answer) && typeof answer.json?.error?.code === 'string',
        '503 {"error":{…}} with Retry-After: <seconds>',
        `HTTP ${answer.status} Retry-After: ${answer.headers.get('retry-after')} ${describe(answer.text)}`,
      )
    },
  },
]
