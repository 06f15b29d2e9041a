import { CloseCode, isErrorCode, parseRetryAfterReason } from '@holdfast/protocol'
import { type ErrorCode, HoldfastError } from '../HoldfastError'

/** What a transport saw when a connection (or one attempt) ended: facts only, no decision. */
export interface Disconnect {
  /** It got as far as the server's welcome (WebSocket), the stream's first event (SSE) or a poll answer. */
  opened: boolean
  /** WebSocket close code. */
  code?: number
  /** HTTP status of a refused request or WebSocket handshake. */
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

const PROXIES = 'see docs/proxies.md'

/**
 * The one disconnect classifier, used by all three transports and by `createEventStream`. The error it
 * returns keeps the cause (`cause: { status | closeCode, reason }`) and says what happened and how to fix it.
 */
export function classifyDisconnect(d: Disconnect): Decision {
  const { code, status } = d
  if (status !== undefined) return classifyStatus(status, d.reason ?? '', d.hintMs)
  if (code !== undefined && code >= 4000) {
    const hintMs = d.hintMs ?? parseRetryAfterReason(d.reason ?? '')
    const said = d.reason && !d.reason.startsWith('{') ? `: ${d.reason}` : ''
    const closed = (c: ErrorCode, message: string) =>
      new HoldfastError(c, `${message} (close ${code}${said})`, {
        cause: { closeCode: code, reason: d.reason },
        retryAfterMs: hintMs,
      })
    if (code === CloseCode.TokenExpired)
      return { action: 'refresh', error: closed('token_expired', 'token expired') }
    if (code < 4200 && code >= 4100)
      return { action: 'refresh', error: closed('unauthorized', 'token rejected') }
    if (code >= 4400 && code < 4500)
      return {
        action: 'stop',
        error: closed(
          code === CloseCode.ProtocolError ? 'bad_frame' : 'forbidden',
          'server ended the session',
        ),
      }
    const known = CLOSED[code]
    return {
      action: 'retry',
      hintMs,
      error: closed(known?.[0] ?? 'disconnected', known?.[1] ?? 'server closed the connection'),
    }
  }
  if (d.error) {
    const { code: c } = d.error
    return {
      action:
        c === 'forbidden'
          ? 'stop'
          : c === 'transport_unavailable' || c === 'proxy_buffering'
            ? 'unusable'
            : 'retry',
      error: d.error,
      hintMs: d.hintMs,
      unreachable: !d.opened && c === 'disconnected',
    }
  }
  return {
    action: 'retry',
    hintMs: d.hintMs,
    unreachable: !d.opened,
    error: d.opened
      ? new HoldfastError('disconnected', `connection closed${code ? ` (${code})` : ''}`, {
          cause: { closeCode: code },
        })
      : new HoldfastError(
          'disconnected',
          'could not reach the server (refused, offline, or blocked on the way)',
          {
            cause: { closeCode: code },
          },
        ),
  }
}

/** Close codes that need no action beyond backing off, with what to tell the user. */
const CLOSED: Record<number, [ErrorCode, string]> = {
  [CloseCode.ServerRestart]: ['server_restart', 'server is restarting'],
  [CloseCode.SlowConsumer]: ['slow_consumer', 'server dropped this slow consumer'],
  [CloseCode.HeartbeatTimeout]: ['timeout', 'no answer to the heartbeat'],
  [CloseCode.RateLimited]: ['rate_limited', 'server is pacing connections'],
  [CloseCode.HandshakeTimeout]: ['timeout', 'handshake timed out'],
}

/**
 * An HTTP refusal (a stream, a poll, a WebSocket handshake). A Holdfast server always answers errors with
 * `{"error":{"code","message"}}`; anything else came from a hop in front of it (a proxy, a CDN, the wrong URL).
 */
function classifyStatus(status: number, body: string, hintMs: number | undefined): Decision {
  const error = errorFromResponse(status, body, hintMs)
  const fromServer = (error.cause as { hop: string }).hop === 'server'
  if (status === 401) return { action: 'refresh', error }
  if (status === 403) return { action: fromServer ? 'stop' : 'unusable', error }
  if (status === 429 || status >= 500)
    return { action: 'retry', error, hintMs, unreachable: !fromServer && status !== 429 }
  return { action: 'unusable', error }
}

/** Turns a refused HTTP response into a `HoldfastError` that names the hop that answered and how to fix it. */
export function errorFromResponse(status: number, body: string, retryAfterMs?: number): HoldfastError {
  let parsed: { code?: unknown; message?: unknown } | undefined
  try {
    parsed = (JSON.parse(body) as { error?: typeof parsed }).error
  } catch {}
  const cause = { status, hop: 'server' }
  if (typeof parsed?.message === 'string')
    return new HoldfastError(isErrorCode(parsed.code) ? parsed.code : statusCode(status), parsed.message, {
      cause,
      retryAfterMs,
    })
  cause.hop = 'proxy'
  const advice =
    status === 426
      ? ': a proxy dropped the Upgrade header; forward it for WebSocket'
      : status === 504 || status === 502
        ? ': the proxy could not reach the server in time; its read timeout must exceed the long-poll hold and the heartbeat'
        : status === 404 || status === 405
          ? ': the URL does not lead to a Holdfast server, or a proxy does not route this path'
          : ''
  return new HoldfastError(
    status === 426 || status === 404 || status === 405
      ? 'transport_unavailable'
      : status >= 500
        ? 'disconnected'
        : statusCode(status),
    `HTTP ${status} from something in front of the server, not Holdfast${advice} (${PROXIES})`,
    { cause, retryAfterMs },
  )
}

function statusCode(status: number): ErrorCode {
  return status === 401
    ? 'unauthorized'
    : status === 403
      ? 'forbidden'
      : status === 413
        ? 'message_too_large'
        : status === 429
          ? 'rate_limited'
          : status === 503
            ? 'server_restart'
            : status >= 500
              ? 'internal'
              : 'bad_request'
}
