import { Endpoint, type PollResponse } from '@holdfast/protocol'
import { Timer } from '../core/timers'
import { HoldfastError } from '../HoldfastError'
import { deliver, httpTransport, parseJson, request } from './httpTransport'
import type { TransportHost } from './Transport'

export interface LongPollTransportOptions {
  /** How long (ms) the server may hold a poll. Defaults to 25000. */
  holdMs?: number
}

/**
 * Long polling: `GET /poll` with the cursor map, held by the server until something arrives. Stateless on
 * the server, so any process can answer; the resume cursors live in the client core.
 */
export function longPollTransport(options: LongPollTransportOptions = {}) {
  return (host: TransportHost) => {
    const holdMs = options.holdMs ?? 25_000
    // A poll that outlives the server's hold by this much went through a black hole.
    const deadlineMs = holdMs + 10_000
    /** Channels confirmed on this connection. */
    let confirmed = new Set<string>()
    return httpTransport(
      host,
      'longpoll',
      Endpoint.Poll,
      async (url, since, headers, signal, open, subscriptions) => {
        if (since) url.searchParams.set('since', since)
        url.searchParams.set('timeoutMs', String(holdMs))
        headers.accept = 'application/json'
        const controller = new AbortController()
        const abort = () => controller.abort()
        signal.addEventListener('abort', abort)
        const deadline = new Timer(host.timers)
        deadline.start(deadlineMs, abort)
        const answer = await request(host, url.toString(), { headers, signal: controller.signal }).catch(
          () => {},
        )
        deadline.cancel()
        signal.removeEventListener('abort', abort)
        if (signal.aborted) return
        confirmed = new Set()
        if (answer === undefined)
          return {
            opened: false,
            error: new HoldfastError('timeout', `poll not answered within ${deadlineMs} ms`),
          }
        if (typeof answer !== 'string') return answer
        const body = parseJson(answer) as PollResponse | undefined
        if (!Array.isArray(body?.messages))
          return {
            opened: false,
            error: new HoldfastError(
              'transport_unavailable',
              'not a Holdfast poll answer: a proxy or the wrong URL answered',
            ),
          }
        open()
        host.activity()
        const listed = new Set<string>()
        for (const entry of body.subscribed ?? []) {
          listed.add(entry.channel)
          deliver(host, { id: 0, ...entry, type: 'subscribed' }, 'poll entry')
        }
        // A channel resumed in full is not listed (PROTOCOL.md §5): the first answer of a connection confirms it.
        const asked = new Set<string>()
        for (const { channel, since } of subscriptions) {
          asked.add(channel)
          if (since && !listed.has(channel) && !confirmed.has(channel))
            deliver(
              host,
              {
                type: 'subscribed',
                id: 0,
                channel,
                epoch: since.split(':')[0],
                cursor: since,
                recovered: true,
              },
              'poll entry',
            )
        }
        confirmed = asked
        for (const message of body.messages) deliver(host, { ...message, type: 'message' }, 'poll entry')
        return 'again'
      },
    )
  }
}
