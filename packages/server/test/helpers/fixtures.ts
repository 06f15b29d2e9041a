import { type IncomingMessage, request } from 'node:http'
import { SignJWT } from 'jose'
import { onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { createServer, type HoldfastServer, type ServerOptions } from '../../src/index'
import type { LogFields, Logger } from '../../src/Logger'

export const SECRET = 'test-secret-that-is-long-enough-for-hs256'

/** A server on a free loopback port, closed when the test ends. */
export async function startServer(options: ServerOptions = {}): Promise<HoldfastServer & { url: string }> {
  const server = createServer(options)
  await server.listen(0, { host: '127.0.0.1' })
  onTestFinished(() => server.close({ timeoutMs: 500 }))
  return server as HoldfastServer & { url: string }
}

export async function signToken(
  claims: { sub?: string; expSec?: number; nowMs?: number; [k: string]: unknown } = {},
  secret = SECRET,
): Promise<string> {
  const { sub = 'user-1', expSec, nowMs = Date.now(), ...rest } = claims
  const jwt = new SignJWT(rest)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(Math.floor(nowMs / 1000))
  if (expSec !== undefined) jwt.setExpirationTime(Math.floor(nowMs / 1000) + expSec)
  return jwt.sign(new TextEncoder().encode(secret))
}

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error'
  fields: LogFields
  message: string
}

export function captureLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = []
  const at = (level: LogRecord['level']) => (fields: LogFields, message: string) =>
    records.push({ level, fields, message })
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

/**
 * Polls `check` until it stops throwing; for integration tests waiting on I/O, never for timing logic.
 * The time limit only ends a hung test (well inside the test timeout): nothing here asserts a speed, so a
 * busy machine makes a test slower, never red.
 */
export const WAIT_LIMIT_MS = 20_000

export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = WAIT_LIMIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}

export type Frame = Record<string, any> & { type: string }

/** A raw `ws` client that records every frame, so tests assert on the wire exactly. */
export class TestSocket {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  readonly opened: Promise<void>
  readonly closed: Promise<{ code: number; reason: string }>
  #consumed = new Set<Frame>()
  #waiters = new Set<() => void>()

  constructor(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}) {
    this.ws = new WebSocket(url, options.protocols ?? ['holdfast.v1'], {
      ...(options.headers ? { headers: options.headers } : {}),
      perMessageDeflate: false,
    })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('unexpected-response', (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      )
      this.ws.once('error', reject)
    })
    this.opened.catch(() => {})
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
        this.#wake()
      })
    })
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(data.toString()))
      this.#wake()
    })
    this.ws.on('error', () => {})
    onTestFinished(() => this.ws.terminate())
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake()
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /**
   * Waits until `count` frames have matched, taken or not, and returns them in arrival order. One waiter that
   * resumes its scan where it stopped, so a test can await thousands of answers at a cost linear in frames.
   */
  all(count: number, match: (frame: Frame) => boolean, timeoutMs = WAIT_LIMIT_MS): Promise<Frame[]> {
    const found: Frame[] = []
    let scanned = 0
    return new Promise((resolve, reject) => {
      const check = () => {
        for (; scanned < this.frames.length && found.length < count; scanned++)
          if (match(this.frames[scanned]!)) found.push(this.frames[scanned]!)
        if (found.length >= count) {
          done()
          resolve(found)
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done()
          reject(new Error(`socket closed after ${found.length} of ${count} matching frames`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${found.length} of ${count} matching frames in ${timeoutMs} ms`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }

  /** The first frame not yet taken that matches; waits for it. */
  next(match: (frame: Frame) => boolean = () => true, timeoutMs = WAIT_LIMIT_MS): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.frames.find((f) => !this.#consumed.has(f) && match(f))
        if (found) {
          this.#consumed.add(found)
          done()
          resolve(found)
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done()
          reject(new Error(`socket closed; frames so far: ${JSON.stringify(this.frames).slice(0, 800)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 800)}`),
        )
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(check)
      }
      this.#waiters.add(check)
      check()
    })
  }

  nextOfType(type: string, timeoutMs?: number): Promise<Frame> {
    return this.next((f) => f.type === type, timeoutMs)
  }

  messages(channel?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (channel === undefined || f.channel === channel))
  }
}

export function wsUrl(server: { url: string }): string {
  return `${server.url.replace(/^http/, 'ws')}/ws`
}

/** Opens a socket and completes the handshake. */
export async function connect(server: { url: string }, token?: string): Promise<TestSocket> {
  const socket = new TestSocket(wsUrl(server))
  await socket.opened
  socket.send(token === undefined ? { type: 'connect' } : { type: 'connect', token })
  await socket.nextOfType('welcome')
  return socket
}

export interface SseEventRecord {
  event: string | undefined
  id: string | undefined
  data: string
  retry: number | undefined
}

/** Reads a `text/event-stream` response per the WHATWG parsing rules we rely on. */
export class SseReader {
  readonly response: Response
  readonly events: SseEventRecord[] = []
  readonly comments: string[] = []
  readonly retries: number[] = []
  ended = false
  #buffer = ''
  #pending: { event?: string; id?: string; data: string[]; retry?: number } = { data: [] }
  #waiters = new Set<() => void>()
  readonly #done: Promise<void>

  constructor(response: Response) {
    this.response = response
    this.#done = this.#pump()
  }

  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined

  /** Drops the connection, as a browser does when it reconnects. */
  async cancel(): Promise<void> {
    await this.#reader?.cancel()
  }

  async #pump(): Promise<void> {
    const reader = this.response.body!.getReader()
    this.#reader = reader
    const decoder = new TextDecoder()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        this.#buffer += decoder.decode(value, { stream: true })
        this.#parse()
        this.#wake()
      }
    } catch {
      // Aborted or cut: the stream simply ends for the test.
    }
    this.ended = true
    this.#wake()
  }

  #parse(): void {
    let nl = this.#buffer.indexOf('\n')
    while (nl !== -1) {
      const line = this.#buffer.slice(0, nl)
      this.#buffer = this.#buffer.slice(nl + 1)
      if (line === '') {
        const p = this.#pending
        if (p.data.length > 0)
          this.events.push({ event: p.event, id: p.id, data: p.data.join('\n'), retry: p.retry })
        this.#pending = { data: [] }
      } else if (line.startsWith(':')) {
        this.comments.push(line.slice(1).trim())
      } else {
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'data') this.#pending.data.push(value)
        else if (field === 'event') this.#pending.event = value
        else if (field === 'id') this.#pending.id = value
        else if (field === 'retry') {
          this.#pending.retry = Number(value)
          this.retries.push(Number(value))
        }
      }
      nl = this.#buffer.indexOf('\n')
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake()
  }

  /** Waits until `check` holds over what has arrived so far. */
  until(check: (reader: SseReader) => boolean, timeoutMs = WAIT_LIMIT_MS): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = () => {
        if (check(this)) {
          done()
          resolve()
        } else if (this.ended) {
          done()
          reject(new Error(`stream ended; events: ${JSON.stringify(this.events).slice(0, 800)}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out; events: ${JSON.stringify(this.events).slice(0, 800)}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(test)
      }
      this.#waiters.add(test)
      test()
    })
  }

  /** Message events (unnamed), parsed. */
  messages(): Array<{ id: string | undefined; channel: string; cursor: string; data: unknown }> {
    return this.events
      .filter((e) => e.event === undefined)
      .map((e) => ({
        id: e.id,
        ...(JSON.parse(e.data) as { channel: string; cursor: string; data: unknown }),
      }))
  }

  get finished(): Promise<void> {
    return this.#done
  }
}

/** Opens `/sse`; the stream is aborted when the test ends. */
/** A raw SSE response over node:http, which `response.pause()` turns into a slow consumer. */
export interface PausableSse {
  response: IncomingMessage
  /** Everything received so far, as text. */
  readonly text: string
  readonly ended: boolean
}

export async function openPausableSse(url: string): Promise<PausableSse> {
  const req = request(url)
  const response = await new Promise<IncomingMessage>((resolve) => {
    req.on('response', resolve)
    req.end()
  })
  onTestFinished(() => {
    req.destroy()
  })
  const stream = { response, text: '', ended: false }
  response.on('data', (chunk: Buffer) => {
    stream.text += chunk.toString()
  })
  response.on('close', () => {
    stream.ended = true
  })
  // A server cut is part of what these tests provoke; it must not surface as an unhandled error.
  response.on('error', () => {})
  return stream
}

export async function openSse(
  server: { url: string },
  query: string,
  headers: Record<string, string> = {},
): Promise<SseReader> {
  const controller = new AbortController()
  onTestFinished(() => controller.abort())
  const response = await fetch(`${server.url}/sse?${query}`, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  })
  return new SseReader(response)
}
