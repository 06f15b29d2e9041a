import type { IncomingMessage, ServerResponse } from 'node:http'
import { decodeSecret, toSecretList, type WebhookSecret } from '../generateSecret'
import type { HeadersLike } from '../getHeader'
import { DEFAULT_TOLERANCE_SEC, type VerifiedWebhook, verify } from '../verify'
import { type WebhookErrorCode, WebhookVerificationError } from '../WebhookVerificationError'
import type { DedupeStore } from './DedupeStore'
import { MemoryDedupeStore } from './MemoryDedupeStore'
import { readRawBody } from './readRawBody'

/** A verified, first-seen delivery as the handler gets it. */
export interface ReceivedWebhook<TPayload = unknown> extends VerifiedWebhook {
  /** The body parsed as JSON (`undefined` with `parse: 'none'`). */
  payload: TPayload
}

export interface ReceiverOptions<TPayload = unknown> {
  /** One secret, or several while the sender rotates keys. */
  secret: WebhookSecret | readonly WebhookSecret[]
  /** Your code. Runs once per `webhook-id`, after the sender already got its 2xx (unless `awaitHandler`). */
  handler: (webhook: ReceivedWebhook<TPayload>) => unknown
  /** Allowed clock difference for `webhook-timestamp`, in seconds, both ways. Defaults to 300. */
  toleranceSec?: number
  /** Larger bodies are refused with 413 before they are buffered. Defaults to 1048576 (1 MiB). */
  maxBodyBytes?: number
  /** Where seen ids are kept. Defaults to a `MemoryDedupeStore` (this process only); use `RedisDedupeStore` for several processes. */
  dedupe?: DedupeStore
  /** How long an id is remembered. Defaults to 48 h. */
  dedupeTtlMs?: number
  /** `json` parses the body (invalid JSON answers 400); `none` leaves it to you (`webhook.text()`). Defaults to `json`. */
  parse?: 'json' | 'none'
  /**
   * Wait for the handler before answering: 2xx when it succeeds, 500 when it throws, so the sender
   * retries. Use it when the handler is fast and has no durable queue behind it. Defaults to false
   * (answer 2xx at once, then run the handler).
   */
  awaitHandler?: boolean
  /**
   * When the handler throws, forget the id so the next delivery with it (a sender retry or a replay
   * from its dead-letter queue) is processed again. Defaults to true.
   */
  releaseOnError?: boolean
  /** Handler failures. Defaults to `console.error`. Called in both modes. */
  onError?: (error: unknown, webhook: ReceivedWebhook<TPayload>) => void
  /** Clock in milliseconds since the epoch. Defaults to `Date.now`. */
  now?: () => number
}

/** What to answer, for frameworks that are not Node `http` (Fastify, Hono, Next route handlers). */
export interface ReceiverResponse {
  status: number
  headers: Record<string, string>
  /** JSON: `{"ok":true}`, `{"ok":true,"duplicate":true}` or `{"error":{"code","message"}}`. */
  body: string
}

/**
 * A Node `http` request handler (`(req, res)`, also an Express handler), plus `handle` for other
 * frameworks and `drain` for shutdown.
 */
export interface WebhookReceiver {
  (req: IncomingMessage, res: ServerResponse): Promise<void>
  /** The same pipeline over headers and raw bytes you read yourself; starts the handler after it resolves. */
  handle(request: { headers: HeadersLike; rawBody: string | Uint8Array }): Promise<ReceiverResponse>
  /** Resolves when every handler started so far has settled. Call it on shutdown before exiting. */
  drain(): Promise<void>
}

/** HTTP status for each error code the receiver can answer with. */
export const RECEIVER_STATUS: Partial<Record<WebhookErrorCode, number>> = {
  missing_header: 400,
  invalid_header: 400,
  invalid_payload: 400,
  invalid_signature: 401,
  timestamp_too_old: 401,
  timestamp_too_new: 401,
  payload_too_large: 413,
  unavailable: 503,
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_DEDUPE_TTL_MS = 48 * 60 * 60 * 1000
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }

function reply(status: number, body: unknown): ReceiverResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) }
}

function errorReply(error: WebhookVerificationError): ReceiverResponse {
  // Internal failures are not the sender's business; say only that it was one.
  const message = error.code === 'internal' ? '[holdfast] internal error' : error.message
  return reply(RECEIVER_STATUS[error.code] ?? 500, { error: { code: error.code, message } })
}

interface Outcome {
  response: ReceiverResponse
  /** Background work to start once the response is on its way. */
  work?: () => Promise<void>
}

/**
 * Creates the receiving side: read the raw body (size-limited), verify signature and timestamp,
 * deduplicate by `webhook-id`, answer 2xx at once and run `handler` asynchronously. A duplicate
 * answers 2xx without running the handler; a verification failure answers 400 or 401 with
 * `{"error":{"code","message"}}`.
 *
 * A handler that throws after the 2xx cannot make the sender retry: the error goes to `onError`
 * and the id is released (`releaseOnError`), so a later re-send is processed. Make the handler
 * hand work to a durable queue, or set `awaitHandler: true` to answer 500 instead.
 *
 * @example
 * const receiver = createReceiver({ secret: process.env.WEBHOOK_SECRET!, handler: async (webhook) => queue.add(webhook.payload) })
 * http.createServer(receiver).listen(3000)          // plain http
 * app.post('/webhooks', receiver)                    // Express, before express.json()
 */
export function createReceiver<TPayload = unknown>(options: ReceiverOptions<TPayload>): WebhookReceiver {
  const secrets = toSecretList(options.secret)
  for (const secret of secrets) decodeSecret(secret, 1) // fail at startup, not on the first delivery
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const dedupe = options.dedupe ?? new MemoryDedupeStore({ now: options.now })
  const dedupeTtlMs = options.dedupeTtlMs ?? DEFAULT_DEDUPE_TTL_MS
  const releaseOnError = options.releaseOnError ?? true
  const onError =
    options.onError ??
    ((error: unknown, webhook: ReceivedWebhook<TPayload>) =>
      console.error(`[holdfast] webhook handler failed for ${webhook.id}:`, error))
  const pending = new Set<Promise<void>>()

  async function runHandler(webhook: ReceivedWebhook<TPayload>): Promise<boolean> {
    try {
      await options.handler(webhook)
      return true
    } catch (error) {
      if (releaseOnError) {
        try {
          await dedupe.release(webhook.id)
        } catch (releaseError) {
          onError(releaseError, webhook)
        }
      }
      onError(error, webhook)
      return false
    }
  }

  async function evaluate(request: { headers: HeadersLike; rawBody: string | Uint8Array }): Promise<Outcome> {
    let webhook: ReceivedWebhook<TPayload>
    try {
      const verified = await verify({
        headers: request.headers,
        rawBody: request.rawBody,
        secret: secrets,
        toleranceSec: options.toleranceSec ?? DEFAULT_TOLERANCE_SEC,
        now: options.now,
      })
      const payload =
        (options.parse ?? 'json') === 'json' ? verified.json<TPayload>() : (undefined as TPayload)
      webhook = { ...verified, payload }
    } catch (error) {
      return { response: errorReply(WebhookVerificationError.from(error)) }
    }

    let first: boolean
    try {
      first = await dedupe.claim(webhook.id, dedupeTtlMs)
    } catch (error) {
      // Without the dedupe memory we cannot promise exactly-once; 503 makes the sender retry later.
      return {
        response: errorReply(
          new WebhookVerificationError('unavailable', '[holdfast] the dedupe store is unavailable', {
            cause: error,
          }),
        ),
      }
    }
    if (!first) return { response: reply(200, { ok: true, duplicate: true }) }

    if (options.awaitHandler) {
      const ok = await runHandler(webhook)
      return {
        response: ok
          ? reply(200, { ok: true })
          : reply(500, {
              error: { code: 'handler_failed', message: '[holdfast] the webhook handler failed' },
            }),
      }
    }
    return { response: reply(200, { ok: true }), work: () => runHandler(webhook).then(() => {}) }
  }

  function startWork(work: (() => Promise<void>) | undefined) {
    if (!work) return
    // setImmediate lets the response bytes leave before a CPU-heavy handler gets the thread.
    const task = new Promise<void>((resolve) => setImmediate(resolve)).then(work)
    pending.add(task)
    void task.finally(() => pending.delete(task))
  }

  const receiver = (async (req: IncomingMessage, res: ServerResponse) => {
    let outcome: Outcome
    try {
      const rawBody = await readRawBody(req, maxBodyBytes)
      outcome = await evaluate({ headers: req.headers, rawBody })
    } catch (error) {
      const typed = WebhookVerificationError.from(error)
      outcome = { response: errorReply(typed) }
      // An oversized body is not read to the end; close the connection rather than reuse it.
      if (typed.code === 'payload_too_large') res.setHeader('connection', 'close')
    }
    const { response } = outcome
    res.writeHead(response.status, response.headers)
    res.end(response.body)
    startWork(outcome.work)
  }) as WebhookReceiver

  receiver.handle = async (request) => {
    const outcome = await evaluate(request)
    startWork(outcome.work)
    return outcome.response
  }

  receiver.drain = async () => {
    while (pending.size > 0) await Promise.allSettled([...pending])
  }

  return receiver
}
