import { POLL_PATH, type PollResponse } from '@holdfast/protocol'
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
      POLL_PATH,
      async (url, since, headers, signal, open, subscriptions, opened) => {
        // A new connection confirms its channels anew, however the previous one ended.
        if (!opened) confirmed = new Set()
        url += `${since ? `&since=${encodeURIComponent(since)}` : ''}&timeoutMs=${Math.ceil(holdMs)}`
        headers.accept = 'application/json'
        const controller = new AbortController()
        const abort = () => controller.abort()
        signal.addEventListener('abort', abort)
        const deadline = new Timer(host.timers)
        deadline.start(deadlineMs, abort)
        const answer = await request(host, url, { headers, signal: controller.signal }).catch(() => {})
        deadline.cancel()
        signal.removeEventListener('abort', abort)
        // Aborted because the channel set or a resume point changed: those are new requests, confirmed anew.
        if (signal.aborted) {
          confirmed = new Set()
          return
        }
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
        const listed = (body.subscribed ?? []).map((entry) => {
          deliver(host, { id: 0, ...entry, type: 'subscribed' })
          return entry.channel
        })
        // A channel resumed in full is not listed (PROTOCOL.md §5): the first answer of a connection confirms it.
        for (const { channel, since } of subscriptions)
          if (since && !listed.includes(channel) && !confirmed.has(channel))
            host.frame({
              type: 'subscribed',
              id: 0,
              channel,
              epoch: since.split(':')[0]!,
              cursor: since,
              recovered: true,
            })
        confirmed = new Set(subscriptions.map((s) => s.channel))
        for (const message of body.messages) deliver(host, { ...message, type: 'message' })
        return 'again'
      },
    )
  }
}
