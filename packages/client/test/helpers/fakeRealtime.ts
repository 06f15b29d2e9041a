import type { FetchFunction, WebSocketConstructor } from '../../src'

/** A client frame as the fake server received it. */
export type SentFrame = {
  type: string
  id?: number
  channel?: string
  since?: string
  key?: string
  data?: unknown
  [k: string]: unknown
}

export interface FakeRealtimeOptions {
  /** Store publishes but answer none of them (the connection dies before the ack), while it returns true. */
  holdAcks?: () => boolean
  /** The token's check: return false to refuse the connect (closes 4101). */
  accept?: (token: string | undefined) => boolean
  /** While it returns false, sockets fail before they open (the network is down). */
  reachable?: () => boolean
}

/**
 * A Holdfast server behind a fake `WebSocket` class (inject it with `WebSocket`) and a fake `fetch` (long
 * polling and publishing over HTTP): history per channel (cursors
 * `e:1`, `e:2`, …) replayed after a subscribe's `since`, subscribing again replaces, publishes are stored once
 * per idempotency key (a repeat answers the first cursor with `duplicate: true`), and every frame a client
 * sends is recorded. Frames travel one microtask later, like the real thing.
 */
export function createFakeRealtime(options: FakeRealtimeOptions = {}) {
  const sockets: FakeSocket[] = []
  const history = new Map<string, Array<{ data: unknown; key?: string }>>()
  const keys = new Map<string, string>()

  class FakeSocket extends EventTarget {
    static readonly CONNECTING = 0
    static readonly OPEN = 1
    static readonly CLOSING = 2
    static readonly CLOSED = 3
    readonly CONNECTING = 0
    readonly OPEN = 1
    readonly CLOSING = 2
    readonly CLOSED = 3
    readyState = 0
    protocol = ''
    bufferedAmount = 0
    binaryType = 'blob'
    extensions = ''
    readonly frames: SentFrame[] = []
    readonly channels = new Set<string>()
    token: string | undefined

    constructor(readonly url: string) {
      super()
      sockets.push(this)
      queueMicrotask(() => {
        if (this.readyState !== 0) return
        if (options.reachable && !options.reachable()) {
          this.dispatchEvent(new Event('error'))
          this.drop(1006)
          return
        }
        this.readyState = 1
        this.dispatchEvent(new Event('open'))
      })
    }

    get open(): boolean {
      return this.readyState === 1
    }

    send(data: string): void {
      if (this.readyState !== 1) return
      const frame = JSON.parse(data) as SentFrame
      this.frames.push(frame)
      queueMicrotask(() => this.#answer(frame))
    }

    close(code = 1000, reason = ''): void {
      if (this.readyState >= 2) return
      this.readyState = 2
      queueMicrotask(() => this.#closed(code, reason))
    }

    push(frame: object): void {
      if (this.readyState !== 1) return
      this.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(frame) }))
    }

    /** The server side goes away. */
    drop(code = 1006): void {
      if (this.readyState >= 2) return
      this.readyState = 2
      this.#closed(code, '')
    }

    #closed(code: number, reason: string): void {
      this.readyState = 3
      this.channels.clear()
      this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: code === 1000 }))
    }

    #answer(frame: SentFrame): void {
      switch (frame.type) {
        case 'connect':
          this.token = frame.token as string | undefined
          if (options.accept && !options.accept(this.token)) this.drop(4101)
          else
            this.push({ type: 'welcome', session: `s${sockets.indexOf(this) + 1}`, maxMessageBytes: 65536 })
          return
        case 'subscribe': {
          const channel = frame.channel!
          const log = history.get(channel) ?? []
          const from = /^e:(\d+)$/.exec(frame.since ?? '')
          this.channels.add(channel)
          this.push({
            type: 'subscribed',
            id: frame.id,
            channel,
            epoch: 'e',
            cursor: `e:${log.length}`,
            recovered: frame.since === undefined || from !== null,
          })
          for (let n = Number(from?.[1] ?? log.length) + 1; n <= log.length; n++)
            this.push({ type: 'message', channel, cursor: `e:${n}`, data: log[n - 1]!.data })
          return
        }
        case 'unsubscribe':
          this.channels.delete(frame.channel!)
          this.push({ type: 'unsubscribed', id: frame.id, channel: frame.channel })
          return
        case 'publish': {
          const known = frame.key === undefined ? undefined : keys.get(`${frame.channel} ${frame.key}`)
          const cursor = known ?? publish(frame.channel!, frame.data, frame.key)
          if (!options.holdAcks?.())
            this.push({ type: 'ack', id: frame.id, cursor, duplicate: known !== undefined })
          return
        }
        case 'ping':
          this.push({ type: 'pong' })
      }
    }
  }

  /** Held polls, woken by a publish on one of their channels. */
  const polls = new Set<{ channels: string[]; wake(): void }>()

  function publish(channel: string, data: unknown, key?: string): string {
    const log = history.get(channel) ?? []
    history.set(channel, log)
    log.push({ data, key })
    const cursor = `e:${log.length}`
    if (key !== undefined) keys.set(`${channel} ${key}`, cursor)
    for (const s of sockets) if (s.channels.has(channel)) s.push({ type: 'message', channel, cursor, data })
    for (const poll of [...polls]) if (poll.channels.includes(channel)) poll.wake()
    return cursor
  }

  const json = (body: unknown) =>
    new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } })

  /** `GET /poll` (held until a message arrives or the request is aborted), `POST /publish`, `GET /health`. */
  async function fetchImpl(input: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(input)
    requests.push(`${init.method ?? 'GET'} ${url.pathname}${url.search}`)
    if (url.pathname === '/health') return json({ status: 'ok' })
    if (url.pathname === '/publish') {
      const body = JSON.parse(String(init.body)) as { channel: string; data: unknown }
      const key = (init.headers as Record<string, string>)['idempotency-key']
      const known = key === undefined ? undefined : keys.get(`${body.channel} ${key}`)
      return json({ cursor: known ?? publish(body.channel, body.data, key), duplicate: known !== undefined })
    }
    const channels = url.searchParams.getAll('channel')
    const since = new Map(
      (url.searchParams.get('since') ?? '')
        .split(',')
        .filter(Boolean)
        .map((pair) => pair.split('=') as [string, string]),
    )
    for (;;) {
      const subscribed: object[] = []
      const messages: object[] = []
      for (const channel of channels) {
        const log = history.get(channel) ?? []
        const from = /^e:(\d+)$/.exec(since.get(channel) ?? '')
        if (!since.has(channel) || !from)
          subscribed.push({ channel, epoch: 'e', cursor: `e:${log.length}`, recovered: !since.has(channel) })
        const start = since.has(channel) ? Number(from?.[1] ?? 0) : log.length
        for (let n = start + 1; n <= log.length; n++)
          messages.push({ channel, cursor: `e:${n}`, data: log[n - 1]!.data })
      }
      if (subscribed.length || messages.length) return json({ since: '', messages, subscribed })
      await new Promise<void>((resolve, reject) => {
        const poll = {
          channels,
          wake: () => {
            polls.delete(poll)
            resolve()
          },
        }
        polls.add(poll)
        init.signal?.addEventListener('abort', () => {
          polls.delete(poll)
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))
        })
      })
    }
  }
  const requests: string[] = []

  const frames = () => sockets.flatMap((s) => s.frames)
  return {
    WebSocket: FakeSocket as unknown as WebSocketConstructor,
    /** A `fetch` answering `/poll`, `/publish` and `/health` from the same history. */
    fetch: fetchImpl as FetchFunction,
    /** The HTTP requests made, as `METHOD /path?query`. */
    requests,
    /** Polls held open now. */
    heldPolls: () => polls.size,
    sockets,
    /** Sockets open now. */
    open: () => sockets.filter((s) => s.open),
    history,
    publish,
    frames,
    /** Frames of one type (and channel), across all sockets. */
    sent: (type: string, channel?: string) =>
      frames().filter((f) => f.type === type && (channel === undefined || f.channel === channel)),
  }
}

export type FakeRealtime = ReturnType<typeof createFakeRealtime>
