import { isErrorCode, parseRetryAfterReason } from '@holdfast/protocol'
import { type ErrorCode, HoldfastError } from '../HoldfastError'

/** What a transport saw when a connection (or one attempt) ended: facts only, no decision. */
export interface Disconnect {
  /** It got as far as the server's welcome (WebSocket), the stream's first event (SSE) or a poll answer. */
  opened: boolean
  /** WebSocket close code. */
  code?: number
  /** HTTP status of a refused request. */
  status?: number
  /** WebSocket close reason, or the body of the refused HTTP response. */
  reason?: string
  /** A delay the server asked for (`Retry-After`, SSE `retry:`, a `reconnect` frame). */
  hintMs?: number
  /** What the transport knows beyond a code or status: a timeout, a network failure, an answer that is not Holdfast's. */
  error?: HoldfastError
}

/**
 * What the client does next. `stop`: terminal, retrying cannot help. `refresh`: fetch a new token and
 * reconnect at once. `retry`: back off, then try again (`unreachable`: the attempt never reached the
 * server, so trying again costs it nothing). `unusable`: this transport cannot work here; fall back.
 */
export interface Decision {
  action: 'stop' | 'refresh' | 'retry' | 'unusable'
  error: HoldfastError
  hintMs?: number
  unreachable?: boolean
}

/**
 * The close codes of PROTOCOL.md §3 as error codes (`CloseCode` in @holdfast/protocol, written as numbers so
 * the client does not ship that object). The message names the code and the server's reason.
 */
const CLOSED: Record<number, ErrorCode> = {
  4000: 'server_restart',
  4001: 'slow_consumer',
  4002: 'timeout',
  4003: 'rate_limited',
  4004: 'timeout',
  4100: 'token_expired',
  4101: 'unauthorized',
  4400: 'bad_frame',
}

/** What a status without a Holdfast error body most likely means, for the message. */
const ADVICE: Record<number, string> = {
  403: "a proxy refused it, or the page's Origin is not in allowedOrigins",
  404: 'the wrong URL, or a proxy not routing this path',
  426: 'a proxy dropped the Upgrade header',
  502: 'a proxy could not reach the server',
  504: 'a proxy timed out; its read timeout must exceed the long-poll hold and heartbeats',
}

/**
 * The one disconnect classifier, used by all three transports and by `createEventStream`. The error it
 * returns keeps the cause (`{ status, hop }` or `{ closeCode, reason }`) and says what happened and how to
 * fix it.
 */
export function classifyDisconnect(d: Disconnect): Decision {
  const { code = 0, status, reason = '', opened } = d
  let { hintMs, error } = d
  let action: Decision['action']
  let unreachable = false
  if (status) {
    error = errorFromResponse(status, reason, hintMs)
    const proxy = (error.cause as { hop: string }).hop === 'proxy'
    action =
      status === 401
        ? 'refresh'
        : status === 403 && !proxy
          ? 'stop'
          : status === 429 || status > 499
            ? 'retry'
            : 'unusable'
    unreachable = proxy && status > 499
  } else if (code > 3999) {
    hintMs ??= parseRetryAfterReason(reason)
    // The hundreds digit says what to do (PROTOCOL.md §3): 41xx refresh the token, 44xx stop, others back off.
    action = code > 4399 && code < 4500 ? 'stop' : code > 4099 && code < 4200 ? 'refresh' : 'retry'
    const c = CLOSED[code] ?? (action === 'stop' ? 'forbidden' : 'disconnected')
    error = new HoldfastError(
      c,
      `server closed the connection: ${c.replace('_', ' ')} (${code}${reason && reason[0] !== '{' ? `: ${reason}` : ''})`,
      { cause: { closeCode: code, reason }, retryAfterMs: hintMs },
    )
  } else {
    error ??= new HoldfastError(
      'disconnected',
      opened
        ? `connection lost${code ? ` (${code})` : ''}`
        : 'could not reach the server (refused, offline or blocked)',
    )
    const c = error.code
    // `unauthorized` / `bad_request` here: getToken() threw or gave no string, counted like a refused token.
    action =
      c === 'forbidden'
        ? 'stop'
        : c === 'unauthorized' || c === 'bad_request'
          ? 'refresh'
          : c === 'transport_unavailable' || c === 'proxy_buffering'
            ? 'unusable'
            : 'retry'
    unreachable = !opened && c === 'disconnected'
  }
  return { action, error, hintMs, unreachable }
}

/**
 * A refused HTTP response (or WebSocket handshake) as a `HoldfastError`. A Holdfast server answers errors with
 * `{"error":{"code","message"}}`; anything else came from a hop in front of it, or the wrong URL.
 */
export function errorFromResponse(status: number, body: string, retryAfterMs?: number): HoldfastError {
  let answer: { code?: unknown; message?: unknown } | undefined
  try {
    answer = JSON.parse(body).error
  } catch {}
  const fromServer = typeof answer?.message === 'string'
  const advice = ADVICE[status] ?? ADVICE[status - 1]
  return new HoldfastError(
    fromServer
      ? isErrorCode(answer?.code)
        ? answer.code
        : 'internal'
      : status === 401
        ? 'unauthorized'
        : status === 403
          ? 'forbidden'
          : status === 429
            ? 'rate_limited'
            : status >= 500
              ? 'disconnected'
              : 'transport_unavailable',
    fromServer
      ? (answer?.message as string)
      : `HTTP ${status} without a Holdfast error body${advice ? `: ${advice}` : ''} (see docs/proxies.md)`,
    { cause: { status, hop: fromServer ? 'server' : 'proxy' }, retryAfterMs },
  )
}
