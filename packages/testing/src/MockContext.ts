import type { ErrorCode } from '@holdfast/protocol'
import { parsePresenceChannel, presenceChannel } from '@holdfast/protocol/presence'
import { HttpResponse } from 'msw'
import type { ChannelLog } from './ChannelLog'
import { ConnectionRecord, type MockTransport } from './connections'
import type { MockPresence } from './MockPresence'

/** A publish a client made, over the WebSocket or `POST /publish`. */
export interface MockPublish {
  channel: string
  data: unknown
  /** Stored cursor (the first one's, for a duplicate). */
  cursor: string
  /** Idempotency key the client sent, if any. */
  key: string | undefined
  /** True when the key was seen within the idempotency window and nothing new was stored. */
  duplicate: boolean
  via: 'websocket' | 'http'
}

export interface ResolvedMockOptions {
  url: string
  maxMessageBytes: number
  tokenGraceMs: number
  sseRetryMs: number
  sseHeartbeatMs: number
  maxPollHoldMs: number
  handshakeTimeoutMs: number
}

/** Everything the handlers share: the log, the connections and the switches the test flips. */
export class MockContext {
  readonly connections: ConnectionRecord[] = []
  readonly published: MockPublish[] = []
  readonly refused = new Set<MockTransport>()
  readonly forbidden = new Set<string>()
  private readonly seenTokens = new Set<string>()
  private readonly expiredTokens = new Set<string>()
  delayMs = 0
  /** Set by `drain()`: the hint every connection and request is given until `endDrain()` or `reset()`. */
  draining: { retryAfterMs: number } | undefined
  private nextId = 1

  constructor(
    readonly options: ResolvedMockOptions,
    readonly log: ChannelLog,
    readonly presence: MockPresence,
    readonly now: () => number,
  ) {}

  /** `forbid(channel)` refuses that name; a forbidden `<channel>~presence` refuses entering it too. */
  isForbidden(channel: string): boolean {
    if (this.forbidden.has(channel)) return true
    const name = parsePresenceChannel(channel)
    return name?.connectionId !== undefined && this.forbidden.has(presenceChannel(name.channel))
  }

  open(transport: MockTransport, token: string | undefined): ConnectionRecord {
    const record = new ConnectionRecord(this.nextId++, transport, token)
    this.noteToken(token)
    this.connections.push(record)
    return record
  }

  noteToken(token: string | undefined): void {
    if (token !== undefined) this.seenTokens.add(token)
  }

  isExpired(token: string | undefined): boolean {
    return token !== undefined && this.expiredTokens.has(token)
  }

  expireSeenTokens(): void {
    for (const token of this.seenTokens) this.expiredTokens.add(token)
  }

  forgetTokens(): void {
    this.seenTokens.clear()
    this.expiredTokens.clear()
  }

  resetCounters(): void {
    this.nextId = 1
  }
}

export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get('authorization')
  const match = header ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null
  return match?.[1]
}

/** An HTTP error in the shape of PROTOCOL.md §2. */
export function errorResponse(
  status: number,
  code: ErrorCode,
  message: string,
  headers?: Record<string, string>,
  channel?: string,
): Response {
  // A refusal of one channel names it, as the reference server does (PROTOCOL.md section 2).
  return HttpResponse.json(
    { error: { code, message: `[holdfast mock] ${message}`, channel } },
    { status, ...(headers ? { headers } : {}) },
  )
}

/** While draining: `503` with `Retry-After`, as PROTOCOL.md §7 answers new requests. */
export function drainingResponse(ctx: MockContext): Response | undefined {
  if (!ctx.draining) return undefined
  return errorResponse(503, 'server_restart', 'the mock is draining; retry shortly', {
    'retry-after': String(Math.max(1, Math.ceil(ctx.draining.retryAfterMs / 1000))),
  })
}

/** Joins the base URL and an endpoint path, keeping any path prefix of the base. */
export function endpointUrl(baseUrl: string, path: string, protocol: 'ws' | 'http' = 'http'): string {
  const url = new URL(baseUrl)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`
  url.search = ''
  url.hash = ''
  const secure = url.protocol === 'https:' || url.protocol === 'wss:'
  if (protocol === 'ws') url.protocol = secure ? 'wss:' : 'ws:'
  else url.protocol = secure ? 'https:' : 'http:'
  return url.toString()
}
