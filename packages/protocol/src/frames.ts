import { type ErrorCode, isErrorCode } from './codes'
import { type Cursor, isChannelName, isCursor } from './cursor'

/** Frames a client sends over the WebSocket. Every request carries a numeric `id` echoed in its reply. */
export type ClientFrame =
  | { type: 'connect'; token?: string }
  | { type: 'auth'; id: number; token: string }
  | { type: 'subscribe'; id: number; channel: string; since?: Cursor }
  | { type: 'unsubscribe'; id: number; channel: string }
  | { type: 'publish'; id: number; channel: string; data: unknown; key?: string }
  | { type: 'ping' }
  | { type: 'pong' }

/** Frames a server sends over the WebSocket (and, as JSON, inside SSE events and poll bodies). */
export type ServerFrame =
  | WelcomeFrame
  | SubscribedFrame
  | { type: 'unsubscribed'; id: number; channel: string }
  | MessageFrame
  | { type: 'ack'; id: number; cursor?: Cursor; duplicate?: boolean }
  | ErrorFrame
  | { type: 'ping' }
  | { type: 'pong' }
  | { type: 'reconnect'; retryAfterMs: number; reason?: string }

export interface WelcomeFrame {
  type: 'welcome'
  session: string
  /** Seconds since epoch at which the current token expires, if the server knows. */
  tokenExpiresAt?: number
  /** Largest frame the server accepts, in bytes. */
  maxMessageBytes: number
}

export interface SubscribedFrame {
  type: 'subscribed'
  id: number
  channel: string
  epoch: string
  /** Cursor of the newest message in the log when the subscription started (`<epoch>:0` if empty). */
  cursor: Cursor
  /** False when the requested `since` could not be honoured in full: history was trimmed or lost. */
  recovered: boolean
}

export interface MessageFrame {
  type: 'message'
  channel: string
  cursor: Cursor
  data: unknown
}

export interface ErrorFrame {
  type: 'error'
  id?: number
  channel?: string
  code: ErrorCode
  message: string
  retryAfterMs?: number
}

/** Thrown (or returned) by decoders: a typed reason for rejecting input. */
export class ProtocolError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'ProtocolError'
    this.code = code
  }
}

export type DecodeResult<T> = { ok: true; frame: T } | { ok: false; error: ProtocolError }

const MAX_TOKEN_LENGTH = 8192
const MAX_KEY_LENGTH = 200
const MAX_ID = 2 ** 31 - 1

function fail<T>(code: ErrorCode, message: string): DecodeResult<T> {
  return { ok: false, error: new ProtocolError(code, message) }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isRequestId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_ID
}

function parseJson(raw: unknown): DecodeResult<Record<string, unknown>> {
  if (typeof raw !== 'string') return fail('bad_frame', 'frames must be UTF-8 JSON text')
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return fail('bad_frame', 'frame is not valid JSON')
  }
  if (!isObject(value)) return fail('bad_frame', 'frame must be a JSON object')
  if (typeof value.type !== 'string') return fail('bad_frame', 'frame has no string "type"')
  return { ok: true, frame: value }
}

/** Validates a frame from a client. Never throws; unknown fields are ignored. */
export function decodeClientFrame(raw: unknown): DecodeResult<ClientFrame> {
  const parsed = parseJson(raw)
  if (!parsed.ok) return parsed
  const f = parsed.frame
  switch (f.type) {
    case 'connect':
      if (f.token !== undefined && !isToken(f.token))
        return fail('bad_frame', 'connect.token must be a string')
      return {
        ok: true,
        frame: f.token === undefined ? { type: 'connect' } : { type: 'connect', token: f.token as string },
      }
    case 'auth':
      if (!isRequestId(f.id)) return fail('bad_frame', 'auth.id must be a non-negative integer')
      if (!isToken(f.token)) return fail('bad_frame', 'auth.token must be a non-empty string')
      return { ok: true, frame: { type: 'auth', id: f.id, token: f.token } }
    case 'subscribe': {
      if (!isRequestId(f.id)) return fail('bad_frame', 'subscribe.id must be a non-negative integer')
      if (!isChannelName(f.channel))
        return fail('invalid_channel', 'subscribe.channel is not a valid channel name')
      if (f.since !== undefined && f.since !== null && !isCursor(f.since))
        return fail('invalid_cursor', 'subscribe.since is not a valid cursor')
      const frame: ClientFrame = { type: 'subscribe', id: f.id, channel: f.channel }
      if (typeof f.since === 'string') frame.since = f.since
      return { ok: true, frame }
    }
    case 'unsubscribe':
      if (!isRequestId(f.id)) return fail('bad_frame', 'unsubscribe.id must be a non-negative integer')
      if (!isChannelName(f.channel))
        return fail('invalid_channel', 'unsubscribe.channel is not a valid channel name')
      return { ok: true, frame: { type: 'unsubscribe', id: f.id, channel: f.channel } }
    case 'publish': {
      if (!isRequestId(f.id)) return fail('bad_frame', 'publish.id must be a non-negative integer')
      if (!isChannelName(f.channel))
        return fail('invalid_channel', 'publish.channel is not a valid channel name')
      if (!('data' in f) || f.data === undefined) return fail('bad_frame', 'publish.data is required')
      if (f.key !== undefined && !isIdempotencyKey(f.key))
        return fail('bad_frame', `publish.key must be 1 to ${MAX_KEY_LENGTH} printable characters`)
      const frame: ClientFrame = { type: 'publish', id: f.id, channel: f.channel, data: f.data }
      if (typeof f.key === 'string') frame.key = f.key
      return { ok: true, frame }
    }
    case 'ping':
      return { ok: true, frame: { type: 'ping' } }
    case 'pong':
      return { ok: true, frame: { type: 'pong' } }
    default:
      return fail('bad_frame', `unknown frame type "${String(f.type).slice(0, 40)}"`)
  }
}

/** Validates a frame from a server. Never throws; a client treats a failure as a protocol error. */
export function decodeServerFrame(raw: unknown): DecodeResult<ServerFrame> {
  let value: unknown
  try {
    // Text frames only: a binary frame is not a Holdfast frame, whatever its bytes say.
    if (typeof raw === 'string') value = JSON.parse(raw)
  } catch {}
  return validateServerFrame(value)
}

type Check = (value: unknown) => boolean
const isString: Check = (v) => typeof v === 'string'
const optional =
  (check: Check): Check =>
  (v) =>
    v === undefined || check(v)

/** What each server frame must carry: field name, then its check. Unknown fields are allowed. */
const SERVER_FRAMES: Record<string, Record<string, Check>> = {
  message: { channel: isChannelName, cursor: isCursor, data: (v) => v !== undefined },
  welcome: { session: isString, maxMessageBytes: (v) => typeof v === 'number' },
  subscribed: {
    id: isRequestId,
    channel: isChannelName,
    epoch: isString,
    cursor: isCursor,
    recovered: (v) => typeof v === 'boolean',
  },
  unsubscribed: { id: isRequestId, channel: isChannelName },
  ack: { id: isRequestId, cursor: optional(isCursor) },
  error: { code: isErrorCode, message: isString, id: optional(isRequestId) },
  ping: {},
  pong: {},
  reconnect: { retryAfterMs: (v) => typeof v === 'number' && v >= 0 },
}

/**
 * Validates an already-parsed server frame (SSE events and poll bodies carry them as JSON values): the
 * fields its type needs, each of the right kind. Never throws; returns the frame itself.
 */
export function validateServerFrame(f: unknown): DecodeResult<ServerFrame> {
  if (!isObject(f) || typeof f.type !== 'string')
    return fail('bad_frame', 'frame is not a JSON object with a "type"')
  const shape = SERVER_FRAMES[f.type]
  if (!shape) return fail('bad_frame', `unknown frame type "${f.type.slice(0, 40)}"`)
  for (const field in shape)
    if (!shape[field]!(f[field])) return fail('bad_frame', `${f.type}.${field} is missing or invalid`)
  return { ok: true, frame: f as ServerFrame }
}

export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame)
}

function isToken(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TOKEN_LENGTH
}

// Printable ASCII without spaces: keys travel in headers (Idempotency-Key) as well as frames.
const KEY_RE = /^[\x21-\x7e]+$/
export function isIdempotencyKey(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_LENGTH && KEY_RE.test(v)
}

/** Parses the `{"retryAfterMs":n}` reason of a 4000 or 4003 close. */
export function parseRetryAfterReason(reason: string): number | undefined {
  if (!reason.startsWith('{')) return undefined
  try {
    const v = JSON.parse(reason) as { retryAfterMs?: unknown }
    return typeof v.retryAfterMs === 'number' && v.retryAfterMs >= 0 ? v.retryAfterMs : undefined
  } catch {
    return undefined
  }
}

export function formatRetryAfterReason(retryAfterMs: number): string {
  return JSON.stringify({ retryAfterMs: Math.max(0, Math.round(retryAfterMs)) })
}
