import { CloseCode, isErrorCode, parseRetryAfterReason } from '@holdfast/protocol'
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

/** Close codes the server sends (40xx: back off), and what to tell the user. */
const CLOSED: Record<number, [ErrorCode, string]> = {
  [CloseCode.ServerRestart]: ['server_restart', 'server is restarting'],
  [CloseCode.SlowConsumer]: ['slow_consumer', 'server dropped this slow consumer'],
  [CloseCode.HeartbeatTimeout]: ['timeout', 'no answer to the heartbeat'],
  [CloseCode.RateLimited]: ['rate_limited', 'server is pacing connections'],
  [CloseCode.HandshakeTimeout]: ['timeout', 'handshake timed out'],
  [CloseCode.TokenExpired]: ['token_expired', 'token expired'],
  [CloseCode.Unauthorized]: ['unauthorized', 'token rejected'],
  [CloseCode.ProtocolError]: ['bad_frame', 'protocol error'],
}

/** What a proxy's status most likely means, for the message. */
const PROXY_ADVICE: Record<number, string> = {
  404: 'the wrong URL, or a proxy that does not route this path',
  405: 'the wrong URL, or a proxy that does not route this path',
  426: 'it dropped the Upgrade header, which WebSocket needs',
  502: 'it could not reach the server',
  504: 'its read timeout must exceed the long-poll hold and the heartbeat',
}

/**
 * The one disconnect classifier, used by all three transports and by `createEventStream`. The error it
 * returns keeps the cause (`{ status, hop }` or `{ closeCode, reason }`) and says what happened and how to
 * fix it.
 */
export function classifyDisconnect(d: Disconnect): Decision {
  const { code = 0, status, reason = '', opened } = d
  let hintMs = d.hintMs
  if (status) {
    const error = errorFromResponse(status, reason, hintMs)
    const proxy = (error.cause as { hop: string }).hop === 'proxy'
    return {
      action:
        status === 401
          ? 'refresh'
          : status === 403 && !proxy
            ? 'stop'
            : status === 429 || status >= 500
              ? 'retry'
              : 'unusable',
      error,
      hintMs,
      unreachable: proxy && status >= 500,
    }
  }
  if (code >= 4000) {
    hintMs ??= parseRetryAfterReason(reason)
    // The hundreds digit says what to do (PROTOCOL.md §3): 41xx refresh the token, 44xx stop, others back off.
    const action = code >= 4400 && code < 4500 ? 'stop' : code >= 4100 && code < 4200 ? 'refresh' : 'retry'
    const [c, text] = CLOSED[code] ?? [
      action === 'stop' ? 'forbidden' : 'disconnected',
      'server ended the session',
    ]
    return {
      action,
      hintMs,
      error: new HoldfastError(
        c,
        `${text} (close ${code}${reason && reason[0] !== '{' ? `: ${reason}` : ''})`,
        {
          cause: { closeCode: code, reason },
          retryAfterMs: hintMs,
        },
      ),
    }
  }
  const error =
    d.error ??
    new HoldfastError(
      'disconnected',
      opened
        ? `connection closed (${code})`
        : 'could not reach the server (refused, offline, or blocked on the way)',
    )
  const c = error.code
  return {
    action:
      c === 'forbidden'
        ? 'stop'
        : c === 'transport_unavailable' || c === 'proxy_buffering'
          ? 'unusable'
          : 'retry',
    error,
    hintMs,
    unreachable: !opened && c === 'disconnected',
  }
}

/** A refused HTTP response as a `HoldfastError`: a Holdfast server answers `{"error":{"code","message"}}`. */
export function errorFromResponse(status: number, body: string, retryAfterMs?: number): HoldfastError {
  let answer: { code?: unknown; message?: unknown } | undefined
  try {
    answer = JSON.parse(body).error
  } catch {}
  const fromServer = typeof answer?.message === 'string'
  const code: ErrorCode =
    fromServer && isErrorCode(answer?.code)
      ? answer.code
      : !fromServer && PROXY_ADVICE[status] && status < 500
        ? 'transport_unavailable'
        : !fromServer && status >= 500
          ? 'disconnected'
          : status === 401
            ? 'unauthorized'
            : status === 403
              ? 'forbidden'
              : status === 429
                ? 'rate_limited'
                : status >= 500
                  ? 'internal'
                  : 'bad_request'
  return new HoldfastError(
    code,
    fromServer
      ? (answer?.message as string)
      : `HTTP ${status} from a proxy or the wrong URL, not the Holdfast server${PROXY_ADVICE[status] ? `: ${PROXY_ADVICE[status]}` : ''} (see docs/proxies.md)`,
    { cause: { status, hop: fromServer ? 'server' : 'proxy' }, retryAfterMs },
  )
}
