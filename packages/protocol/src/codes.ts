/** WebSocket subprotocol spoken by every Holdfast server and client. */
export const PROTOCOL_VERSION = 'holdfast.v1'

/**
 * WebSocket close codes. The hundreds digit tells a client what to do:
 * 40xx reconnect with backoff, 41xx refresh the token and reconnect at once, 44xx stop.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  MessageTooBig: 1009,
  /** Server is restarting or draining; the reason carries `{"retryAfterMs":n}`. */
  ServerRestart: 4000,
  /** The connection's send buffer overflowed; resume from history. */
  SlowConsumer: 4001,
  /** No frame from the peer within the heartbeat window. */
  HeartbeatTimeout: 4002,
  /** Too many connections right now; the reason carries `{"retryAfterMs":n}`. */
  RateLimited: 4003,
  /** No `connect` frame within the handshake timeout. */
  HandshakeTimeout: 4004,
  /** The token expired and was not refreshed in time. */
  TokenExpired: 4100,
  /** The token was rejected (bad signature, malformed); a fresh token may work once. */
  Unauthorized: 4101,
  /** Protocol violation the client cannot fix by reconnecting. */
  ProtocolError: 4400,
  /** The user is not allowed to connect at all. */
  Forbidden: 4403,
} as const
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

/** What a client should do after a close code. */
export type CloseAction = 'reconnect' | 'refresh' | 'stop'

export function closeAction(code: number): CloseAction {
  if (code >= 4100 && code < 4200) return 'refresh'
  if (code >= 4400 && code < 4500) return 'stop'
  return 'reconnect'
}

/** Stable error codes shared by server frames, HTTP bodies and the client's `HoldfastError`. */
export const ErrorCode = {
  BadFrame: 'bad_frame',
  BadRequest: 'bad_request',
  MessageTooLarge: 'message_too_large',
  InvalidChannel: 'invalid_channel',
  InvalidCursor: 'invalid_cursor',
  Unauthorized: 'unauthorized',
  TokenExpired: 'token_expired',
  Forbidden: 'forbidden',
  NotConnected: 'not_connected',
  RateLimited: 'rate_limited',
  SlowConsumer: 'slow_consumer',
  QueueFull: 'queue_full',
  Timeout: 'timeout',
  Closed: 'closed',
  Disconnected: 'disconnected',
  TransportUnavailable: 'transport_unavailable',
  ProxyBuffering: 'proxy_buffering',
  ServerRestart: 'server_restart',
  TooManySubscriptions: 'too_many_subscriptions',
  Internal: 'internal',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

// The same codes as one string, so a client that only checks codes does not ship the object above.
const ERROR_CODES =
  ' bad_frame bad_request message_too_large invalid_channel invalid_cursor unauthorized token_expired forbidden not_connected rate_limited slow_consumer queue_full timeout closed disconnected transport_unavailable proxy_buffering server_restart too_many_subscriptions internal '
/** Whether `value` is one of the stable error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && /^\w+$/.test(value) && ERROR_CODES.includes(` ${value} `)
}
