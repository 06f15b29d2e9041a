import type { EventEmitter } from 'node:events'
import type { StoredMessage } from '../broker/Broker'
import type { TransportName } from '../ConnectionRegistry'
import type { ServerContext } from '../ServerContext'
import type { SlowConsumerPolicy } from '../ServerOptions'

/** What a gate needs of one connection. Read lazily, so a gate can be built before the connection's fields. */
export interface SendGateTarget {
  transport: TransportName
  /** Emits `drain` when the send buffer empties and `close` when the connection goes. */
  emitter(): EventEmitter
  /** Bytes waiting in the send buffer. */
  bufferedBytes(): number
  /** Bytes `send` would add for this message. */
  sizeOf(message: StoredMessage): number
  /** Whether a message may be written now; otherwise it is ignored. */
  writable(): boolean
  /** Whether the connection is gone (no more parked sends, no more waiting). */
  closed(): boolean
  send(message: StoredMessage, live: boolean): void
  slowConsumer(): void
}

/**
 * The slow-consumer policy between a connection's channel feeds and its send buffer, the same for
 * WebSocket and SSE. Under `sendBufferBytes` a message goes out at once. Over it, a replayed message
 * closes the connection (`ChannelFeed` paces replays with `drained`, so only one larger than half the
 * buffer gets here), and a live one is handled by the channel's policy: `close`, `drop`, or `latest`,
 * which parks the newest message per channel and sends it on `drain`.
 */
export class SendGate {
  readonly #ctx: ServerContext
  readonly #target: SendGateTarget
  // Created when a message is first parked: most connections never need it.
  #parked: Map<string, StoredMessage> | undefined
  #waitingForRoom = false

  constructor(ctx: ServerContext, target: SendGateTarget) {
    this.#ctx = ctx
    this.#target = target
  }

  write(message: StoredMessage, live: boolean, policy: SlowConsumerPolicy): void {
    const target = this.#target
    if (!target.writable()) return
    if (live && policy === 'latest' && this.#parked?.has(message.channel)) {
      // Superseded before it could be sent.
      this.#parked!.set(message.channel, message)
      this.#ctx.metrics.dropped(target.transport, 'latest')
      return
    }
    if (!this.#fits(message)) {
      if (!live || policy === 'close') {
        target.slowConsumer()
        return
      }
      if (policy === 'drop') {
        this.#ctx.metrics.dropped(target.transport, 'drop')
        return
      }
      this.#parked ??= new Map()
      this.#parked.set(message.channel, message)
      this.#waitForRoom()
      return
    }
    target.send(message, live)
  }

  /** Resolves once the send buffer is at most half full, or the connection is gone. */
  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const target = this.#target
      if (target.closed() || target.bufferedBytes() <= this.#ctx.options.sendBufferBytes / 2) return resolve()
      const emitter = target.emitter()
      const done = () => {
        emitter.off('drain', done)
        emitter.off('close', done)
        resolve()
      }
      emitter.on('drain', done)
      emitter.on('close', done)
    })
  }

  /** Forgets parked messages (the connection closed). */
  clear(): void {
    this.#parked = undefined
  }

  #fits(message: StoredMessage): boolean {
    return this.#target.bufferedBytes() + this.#target.sizeOf(message) <= this.#ctx.options.sendBufferBytes
  }

  #waitForRoom(): void {
    if (this.#waitingForRoom) return
    this.#waitingForRoom = true
    const emitter = this.#target.emitter()
    const onDrain = () => {
      if (this.#target.closed()) return
      const parked = this.#parked
      if (parked)
        for (const [channel, message] of parked) {
          if (!this.#fits(message)) return
          parked.delete(channel)
          this.#target.send(message, true)
        }
      emitter.off('drain', onDrain)
      this.#waitingForRoom = false
    }
    emitter.on('drain', onDrain)
  }
}
