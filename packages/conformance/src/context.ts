import { SignJWT } from 'jose'
import WebSocketImpl from 'ws'
import type { ConformanceOptions } from './options'
import { CheckFailure, describe, expectThat, NotRun } from './outcome'
import { type ParsedCursor, parseCursor } from './protocolText'
import { RawSocket, type ServerFrame, type WebSocketConstructor } from './wire/rawSocket'
import { SseStream } from './wire/sseStream'

/** PROTOCOL.md's defaults, used where the run was not told otherwise. */
export const DEFAULT_TIMINGS = {
  handshakeTimeoutMs: 10_000,
  tokenGraceMs: 5000,
  sseHeartbeatMs: 15_000,
  pingIntervalMs: 25_000,
}

export const DEFAULT_MAX_MESSAGE_BYTES = 131_072

/** An HTTP answer, read whole. */
export interface HttpAnswer {
  status: number
  headers: Headers
  text: string
  json: any
}

/** What the run learned about the server before the checks. */
export interface ServerFacts {
  /** True when the server lets requests without a token in. */
  open: boolean
  maxMessageBytes: number
}

/** The user a minted token names unless a check asks for another. */
export const CONFORMANCE_SUB = 'holdfast-conformance'

/** What a run shares between its checks: options, facts and the drain session. */
export class RunState {
  readonly options: ConformanceOptions
  /** The base URL without a trailing slash, e.g. `http://host:8080/holdfast`. */
  readonly base: string
  readonly fetch: typeof fetch
  readonly WebSocket: WebSocketConstructor
  readonly deadlineMs: number
  readonly timings: typeof DEFAULT_TIMINGS
  readonly prefix: string
  facts: ServerFacts = { open: true, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES }
  readonly #shared = new Map<string, Promise<unknown>>()
  readonly #atEnd: Array<() => void> = []

  constructor(options: ConformanceOptions) {
    this.options = options
    const base = new URL(options.url)
    base.search = ''
    base.hash = ''
    this.base = base.toString().replace(/\/+$/, '')
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
    this.WebSocket = options.WebSocket ?? (WebSocketImpl as unknown as WebSocketConstructor)
    this.deadlineMs = options.deadlineMs ?? 10_000
    this.timings = { ...DEFAULT_TIMINGS, ...definedOnly(options.timings ?? {}) }
    this.prefix = options.channelPrefix ?? `conformance.${Math.random().toString(36).slice(2, 8)}`
  }

  /** One value per run for `key`, made on first use. */
  shared<T>(key: string, make: () => Promise<T>): Promise<T> {
    let value = this.#shared.get(key) as Promise<T> | undefined
    if (!value) {
      value = make()
      this.#shared.set(key, value)
    }
    return value
  }

  /** Runs `fn` when the run ends (for what several checks share). */
  disposeAtEnd(fn: () => void): void {
    this.#atEnd.push(fn)
  }

  dispose(): void {
    for (const fn of this.#atEnd.splice(0)) fn()
  }
}

/** What one check works with. Everything it opens is closed when the check ends. */
export class CheckContext {
  readonly run: RunState
  readonly #checkId: string
  readonly #sockets: RawSocket[] = []
  readonly #streams: SseStream[] = []
  readonly #aborts: AbortController[] = []
  #nextRequestId = 1
  #nextKey = 1

  constructor(run: RunState, checkId: string) {
    this.run = run
    this.#checkId = checkId
  }

  get deadlineMs(): number {
    return this.run.deadlineMs
  }

  get timings() {
    return this.run.timings
  }

  get facts(): ServerFacts {
    return this.run.facts
  }

  /** A channel name of this run and check. */
  channel(name = 'c'): string {
    return `${this.run.prefix}.${this.#checkId}.${name}`
  }

  /** An idempotency key unique to this run. */
  key(name = 'k'): string {
    return `${this.run.prefix}-${this.#checkId}-${name}-${this.#nextKey++}`
  }

  requestId(): number {
    return this.#nextRequestId++
  }

  url(path: string, params: Array<[string, string]> = []): string {
    const url = new URL(`${this.run.base}${path}`)
    for (const [name, value] of params) url.searchParams.append(name, value)
    return url.toString()
  }

  wsUrl(): string {
    const url = new URL(this.url('/ws'))
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
    return url.toString()
  }

  // ── tokens ──────────────────────────────────────────────────────────────

  /** Skips the check (not run) on a server that lets everyone in. */
  requireAuth(): void {
    if (this.facts.open) throw new NotRun('a server that requires tokens (this one runs open)')
  }

  /** Skips the check unless the run can mint tokens. */
  requireSecret(): string {
    this.requireAuth()
    if (!this.run.options.secret) throw new NotRun('--secret, to mint HS256 tokens')
    return this.run.options.secret
  }

  /** The token of an ordinary request: minted, given, or none on an open server. */
  async token(): Promise<string | undefined> {
    if (this.run.options.secret) return this.mint({})
    return this.run.options.token
  }

  /** Mints an HS256 token with `sub` and an hour of life unless `claims` say otherwise. */
  async mint(claims: { sub?: string; exp?: number; secret?: string }): Promise<string> {
    const secret = claims.secret ?? this.run.options.secret
    if (!secret) throw new NotRun('--secret, to mint HS256 tokens')
    const { secret: _, ...rest } = claims
    const payload = {
      sub: CONFORMANCE_SUB,
      exp: Math.floor(Date.now() / 1000) + 3600,
      ...this.run.options.claims,
      ...rest,
    }
    return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret))
  }

  async authHeaders(token?: string | null): Promise<Record<string, string>> {
    const value = token === null ? undefined : (token ?? (await this.token()))
    return value === undefined ? {} : { authorization: `Bearer ${value}` }
  }

  // ── HTTP ────────────────────────────────────────────────────────────────

  async http(
    method: 'GET' | 'POST',
    path: string,
    init: {
      params?: Array<[string, string]>
      headers?: Record<string, string>
      body?: string
      token?: string | null
    } = {},
  ): Promise<HttpAnswer> {
    const abort = new AbortController()
    this.#aborts.push(abort)
    const timer = setTimeout(() => abort.abort(), this.deadlineMs + 30_000)
    try {
      const response = await this.run.fetch(this.url(path, init.params), {
        method,
        headers: { ...(await this.authHeaders(init.token)), ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
        signal: abort.signal,
      })
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: response.status, headers: response.headers, text, json }
    } catch (error) {
      throw new CheckFailure(
        `an HTTP answer from ${method} ${path}`,
        `request failed: ${describeError(error)}`,
      )
    } finally {
      clearTimeout(timer)
    }
  }

  /** `POST /publish`; answers whatever came back. */
  postPublish(
    channel: string,
    data: unknown,
    init: { key?: string; headers?: Record<string, string>; token?: string | null; body?: string } = {},
  ): Promise<HttpAnswer> {
    return this.http('POST', '/publish', {
      headers: {
        'content-type': 'application/json',
        ...(init.key === undefined ? {} : { 'idempotency-key': init.key }),
        ...init.headers,
      },
      body: init.body ?? JSON.stringify({ channel, data }),
      ...(init.token === undefined ? {} : { token: init.token }),
    })
  }

  /** Publishes through `POST /publish` and returns the stored cursor; fails the check on anything but 200. */
  async publish(
    channel: string,
    data: unknown,
    key?: string,
  ): Promise<{ cursor: string; duplicate: boolean }> {
    const answer = await this.postPublish(channel, data, key === undefined ? {} : { key })
    expectThat(
      answer.status === 200 && typeof answer.json?.cursor === 'string',
      `POST /publish to answer 200 {"cursor","duplicate"} (PROTOCOL.md §6)`,
      `HTTP ${answer.status} ${answer.text}`,
    )
    return { cursor: answer.json.cursor, duplicate: answer.json.duplicate }
  }

  /** Publishes `{ n }` for each n in `from..to`; returns the cursors in order. */
  async publishRange(channel: string, from: number, to: number): Promise<string[]> {
    const cursors: string[] = []
    for (let n = from; n <= to; n++) cursors.push((await this.publish(channel, { n })).cursor)
    return cursors
  }

  /** `GET /poll`. */
  poll(
    channels: string[],
    init: {
      since?: string
      timeoutMs?: number
      headers?: Record<string, string>
      token?: string | null
    } = {},
  ): Promise<HttpAnswer> {
    const params: Array<[string, string]> = channels.map((c) => ['channel', c])
    if (init.since !== undefined) params.push(['since', init.since])
    if (init.timeoutMs !== undefined) params.push(['timeoutMs', String(init.timeoutMs)])
    return this.http('GET', '/poll', {
      params,
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.token === undefined ? {} : { token: init.token }),
    })
  }

  // ── SSE ─────────────────────────────────────────────────────────────────

  async sse(
    channels: string[],
    init: { since?: string; lastEventId?: string; token?: string | null } = {},
  ): Promise<SseStream> {
    const params: Array<[string, string]> = channels.map((c) => ['channel', c])
    if (init.since !== undefined) params.push(['since', init.since])
    const headers = await this.authHeaders(init.token)
    if (init.lastEventId !== undefined) headers['last-event-id'] = init.lastEventId
    let stream: SseStream
    try {
      stream = await SseStream.open(this.run.fetch, this.url('/sse', params), headers, this.deadlineMs)
    } catch (error) {
      throw new CheckFailure('GET /sse to answer', `request failed: ${describeError(error)}`)
    }
    this.#streams.push(stream)
    return stream
  }

  // ── WebSocket ───────────────────────────────────────────────────────────

  /** Opens a socket offering `protocols` (holdfast.v1 by default); does not wait for it to open. */
  socket(protocols: string | string[] = 'holdfast.v1'): RawSocket {
    let socket: RawSocket
    try {
      socket = new RawSocket(this.run.WebSocket, this.wsUrl(), protocols, this.deadlineMs)
    } catch (error) {
      throw new CheckFailure('a WebSocket to /ws', `could not construct one: ${describeError(error)}`)
    }
    this.#sockets.push(socket)
    return socket
  }

  /** Opens a socket, sends `connect` (with the run's token) and waits for `welcome`. */
  async connected(token?: string | null): Promise<{ socket: RawSocket; welcome: ServerFrame }> {
    const socket = this.socket()
    await socket.open()
    const value = token === null ? undefined : (token ?? (await this.token()))
    socket.send(value === undefined ? { type: 'connect' } : { type: 'connect', token: value })
    const welcome = await socket.frame((f) => f.type === 'welcome' || f.type === 'error', 'a welcome frame')
    expectThat(welcome.type === 'welcome', 'a welcome frame after connect', socket.summary())
    return { socket, welcome }
  }

  /** Sends `subscribe` and waits for its `subscribed`; returns the frame and its index in `socket.frames`. */
  async subscribe(
    socket: RawSocket,
    channel: string,
    since?: string,
  ): Promise<{ subscribed: ServerFrame; index: number }> {
    const id = this.requestId()
    socket.send(
      since === undefined ? { type: 'subscribe', id, channel } : { type: 'subscribe', id, channel, since },
    )
    const reply = await socket.frame(
      (f) => (f.type === 'subscribed' || f.type === 'error') && f.id === id,
      `subscribed {"id":${id},"channel":"${channel}"}`,
    )
    expectThat(reply.type === 'subscribed', `subscribed for "${channel}"`, reply)
    return { subscribed: reply, index: socket.frames.indexOf(reply) }
  }

  /** Message frames of `channel` that arrived after index `from`. */
  messagesOf(socket: RawSocket, channel: string, from = 0): ServerFrame[] {
    return socket.frames.slice(from).filter((f) => f.type === 'message' && f.channel === channel)
  }

  /** Waits until `count` messages of `channel` arrived after index `from`. */
  waitMessages(socket: RawSocket, channel: string, count: number, from = 0): Promise<ServerFrame[]> {
    return socket.until(() => {
      const got = this.messagesOf(socket, channel, from)
      return got.length >= count ? got : undefined
    }, `${count} message frame(s) on "${channel}"`)
  }

  /** Closes everything the check opened. */
  dispose(): void {
    for (const socket of this.#sockets) socket.close()
    for (const stream of this.#streams) stream.cut()
    for (const abort of this.#aborts) abort.abort()
  }
}

/** Cursors as PROTOCOL.md §1 defines them, compared as the pair (n, m). */
export function cursorOrder(a: string, b: string): number {
  const pa = parseCursor(a)
  const pb = parseCursor(b)
  if (!pa || !pb || pa.epoch !== pb.epoch) return Number.NaN
  return comparePositions(pa, pb)
}

function comparePositions(a: ParsedCursor, b: ParsedCursor): number {
  return a.n - b.n || a.m - b.m
}

export function describeError(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } }
  const cause = e?.cause ? ` (${e.cause.code ?? e.cause.message})` : ''
  return `${e?.message ?? describe(error)}${cause}`
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
