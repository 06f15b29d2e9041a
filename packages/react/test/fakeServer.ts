import { createClient, type HoldfastClient, type WebSocketConstructor } from '@holdfast/client'

/** A client frame as the fake server received it (parsed JSON). */
export type Frame = { type: string; id?: number; channel?: string; since?: string; [k: string]: unknown }

export interface FakeSocketLike {
  readonly frames: Frame[]
  readonly channels: Set<string>
  push(frame: object): void
  drop(code?: number): void
}

export interface FakeServerOptions {
  /** Refuse a subscribe with `forbidden`. Read at each subscribe, so a test can change its mind. */
  refuse?: (channel: string) => boolean
  /** Hold the answer to a subscribe until `server.answerHeld()`, to see the state before the server answers. */
  hold?: (channel: string) => boolean
}

/**
 * A Holdfast server behind a fake `WebSocket` class injected into the client: every frame the
 * client puts on the wire passes through here, so tests count subscriptions at the network level.
 * Like the real server it keeps each channel's history (cursors `e:1`, `e:2`, …) and replays it after a
 * subscribe's `since`, `subscribed` first.
 */
export function createFakeServer(options: FakeServerOptions = {}) {
  const sockets: FakeSocketLike[] = []
  const history = new Map<string, unknown[]>()
  const held: Array<() => void> = []
  let constructed = 0

  class FakeWebSocket extends EventTarget implements FakeSocketLike {
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
    extensions = ''
    binaryType = 'blob'
    bufferedAmount = 0
    readonly frames: Frame[] = []
    readonly channels = new Set<string>()

    constructor(
      readonly url: string,
      protocols?: string | string[],
    ) {
      super()
      constructed++
      sockets.push(this)
      this.protocol = [protocols ?? []].flat()[0] ?? ''
      queueMicrotask(() => {
        if (this.readyState !== 0) return
        this.readyState = 1
        this.dispatchEvent(new Event('open'))
      })
    }

    send(data: string): void {
      if (this.readyState !== 1) return
      const frame = JSON.parse(data) as Frame
      this.frames.push(frame)
      queueMicrotask(() => this.answer(frame))
    }

    close(code = 1000, reason = ''): void {
      if (this.readyState >= 2) return
      this.readyState = 2
      queueMicrotask(() => this.closed(code, reason))
    }

    push(frame: object): void {
      if (this.readyState !== 1) return
      this.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(frame) }))
    }

    /** The server side goes away. */
    drop(code = 1006): void {
      if (this.readyState >= 2) return
      this.readyState = 2
      this.closed(code, '')
    }

    private closed(code: number, reason: string): void {
      this.readyState = 3
      this.channels.clear()
      this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: code === 1000 }))
    }

    private answer(frame: Frame): void {
      switch (frame.type) {
        case 'connect':
          this.push({ type: 'welcome', session: `s${sockets.indexOf(this) + 1}`, maxMessageBytes: 65536 })
          return
        case 'subscribe':
          if (options.hold?.(frame.channel!)) held.push(() => this.subscribe(frame))
          else this.subscribe(frame)
          return
        case 'unsubscribe':
          this.channels.delete(frame.channel!)
          this.push({ type: 'unsubscribed', id: frame.id, channel: frame.channel })
          return
        case 'publish': {
          const cursor = publish(frame.channel!, frame.data)
          this.push({ type: 'ack', id: frame.id, cursor, duplicate: false })
          return
        }
        case 'ping':
          this.push({ type: 'pong' })
      }
    }

    private subscribe(frame: Frame): void {
      const channel = frame.channel!
      if (options.refuse?.(channel)) {
        this.push({ type: 'error', id: frame.id, channel, code: 'forbidden', message: 'no' })
        return
      }
      const log = history.get(channel) ?? []
      const from = /^e:(\d+)$/.exec(frame.since ?? '')
      const recovered = frame.since === undefined || from !== null
      this.channels.add(channel)
      this.push({
        type: 'subscribed',
        id: frame.id,
        channel,
        epoch: 'e',
        cursor: `e:${log.length}`,
        recovered,
      })
      for (let n = Number(from?.[1] ?? log.length) + 1; n <= log.length; n++)
        this.push({ type: 'message', channel, cursor: `e:${n}`, data: log[n - 1] })
    }
  }

  function publish(channel: string, data: unknown): string {
    const log = history.get(channel) ?? []
    history.set(channel, log)
    log.push(data)
    const cursor = `e:${log.length}`
    for (const s of sockets) if (s.channels.has(channel)) s.push({ type: 'message', channel, cursor, data })
    return cursor
  }

  const frames = () => sockets.flatMap((s) => s.frames)
  return {
    WebSocket: FakeWebSocket as unknown as WebSocketConstructor,
    sockets,
    get constructed() {
      return constructed
    },
    /** Every frame any client socket sent, in socket order. */
    frames,
    /** Frames of one type (and channel), across all sockets. */
    sent: (type: string, channel?: string) =>
      frames().filter((f) => f.type === type && (channel === undefined || f.channel === channel)),
    publish,
    /** Answers the subscribes held back by `hold`, in the order they came. */
    answerHeld: () => {
      for (const answer of held.splice(0)) answer()
    },
    dropAll: (code?: number) => {
      for (const s of sockets) s.drop(code)
    },
  }
}

export type FakeServer = ReturnType<typeof createFakeServer>

/** A client wired to the fake server: WebSocket only, no heartbeat or online listener to leak. */
export function fakeClient(
  server: FakeServer,
  options: Partial<Parameters<typeof createClient>[0]> = {},
): HoldfastClient {
  return createClient({
    url: 'http://rt.test',
    transports: ['websocket'],
    WebSocket: server.WebSocket,
    heartbeat: false,
    onOnline: false,
    ...options,
  })
}

/** Counts the state listeners a client has, by wrapping `onStateChange`. */
export function countStateListeners(client: HoldfastClient): () => number {
  let active = 0
  const original = client.onStateChange.bind(client)
  client.onStateChange = (fn) => {
    active++
    const off = original(fn)
    let done = false
    return () => {
      if (!done) {
        done = true
        active--
      }
      return off()
    }
  }
  return () => active
}
