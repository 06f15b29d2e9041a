// The endpoint paths, one constant each so a bundler inlines the ones a client uses (the object below is for
// code that wants them all).
export const WS_PATH = '/ws'
export const SSE_PATH = '/sse'
export const POLL_PATH = '/poll'
export const PUBLISH_PATH = '/publish'
export const HEALTH_PATH = '/health'

/** The endpoints under a server's base URL (see docs/PROTOCOL.md). */
export const Endpoint = {
  WebSocket: WS_PATH,
  Sse: SSE_PATH,
  Poll: POLL_PATH,
  Publish: PUBLISH_PATH,
  Health: HEALTH_PATH,
  Metrics: '/metrics',
} as const

/** SSE event names. Messages are unnamed events, so a plain `EventSource.onmessage` receives them. */
export const SseEvent = {
  /** One per channel when the stream opens: a `SubscribedFrame` minus its id. */
  Subscribed: 'subscribed',
  /** An `ErrorFrame`. */
  Error: 'error',
  /** A `reconnect` hint before the server closes the stream. */
  Reconnect: 'reconnect',
} as const

/** Response header on `/sse` and `/poll`: the cursor map the replay actually started from. */
export const REPLAY_FROM_HEADER = 'holdfast-replay-from'
/** Response header on `/sse` and `/poll`: channels whose requested history could not be replayed in full. */
export const GAP_HEADER = 'holdfast-gap'
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'

/** Body of a `/poll` response. */
export interface PollResponse {
  /** Cursor map to send as `since` on the next poll. */
  since: string
  messages: Array<{ channel: string; cursor: string; data: unknown }>
  /** One entry per channel that this poll (re)started, as in the WebSocket `subscribed` frame. */
  subscribed?: Array<{ channel: string; epoch: string; cursor: string; recovered: boolean }>
}

/** Body of a `POST /publish` response. */
export interface PublishResponse {
  cursor: string
  duplicate: boolean
}
