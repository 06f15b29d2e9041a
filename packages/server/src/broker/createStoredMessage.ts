import { type Cursor, isChannelName, parseCursor } from '@holdfast/protocol'
import type { StoredMessage } from './Broker'

export interface StoredMessageInit {
  channel: string
  cursor: Cursor
  /** The payload as JSON text. */
  json: string
  /** Milliseconds since the Unix epoch. */
  time: number
}

class EncodedMessage implements StoredMessage {
  readonly channel: string
  readonly cursor: Cursor
  readonly position: StoredMessage['position']
  readonly json: string
  readonly time: number
  readonly body: string
  readonly frame: string
  /** UTF-8 length of `frame`, for the memory budget. */
  readonly frameLength: number
  #frameBytes: Buffer | undefined
  #bodyBytes: Buffer | undefined

  constructor(init: StoredMessageInit) {
    const position = parseCursor(init.cursor)
    if (!position) throw new TypeError(`[holdfast] "${init.cursor}" is not a cursor`)
    if (!isChannelName(init.channel))
      throw new TypeError(`[holdfast] "${init.channel}" is not a channel name`)
    this.channel = init.channel
    this.cursor = init.cursor
    this.position = position
    this.json = init.json
    this.time = init.time
    // Channel names and cursors need no escaping (their alphabets exclude quotes and backslashes),
    // so the payload is serialized exactly once, at publish.
    this.body = `{"channel":"${init.channel}","cursor":"${init.cursor}","data":${init.json}}`
    this.frame = `{"type":"message",${this.body.slice(1)}`
    this.frameLength = Buffer.byteLength(this.frame)
  }

  get frameBytes(): Buffer {
    this.#frameBytes ??= Buffer.from(this.frame, 'utf8')
    return this.#frameBytes
  }

  get bodyBytes(): Buffer {
    this.#bodyBytes ??= Buffer.from(this.body, 'utf8')
    return this.#bodyBytes
  }
}

/** Builds a `StoredMessage`; brokers call this once per stored message. */
export function createStoredMessage(init: StoredMessageInit): StoredMessage {
  return new EncodedMessage(init)
}

/**
 * What one stored message may hold in memory, in bytes: its JSON, SSE body and WebSocket frame as text,
 * and the frame and body as bytes once sent (about five times the frame's UTF-8 length, measured), plus
 * the fixed cost of the objects. An upper estimate, so a budget in these bytes holds in real memory too.
 */
export function storedMessageBytes(message: StoredMessage): number {
  const known = (message as { frameLength?: number }).frameLength
  return 6 * (known ?? Buffer.byteLength(message.frame)) + 1024
}
