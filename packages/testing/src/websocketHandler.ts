import {
  type ClientFrame,
  CloseCode,
  decodeClientFrame,
  Endpoint,
  type ErrorCode,
  encodeFrame,
  formatRetryAfterReason,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@holdfast/protocol'
import { parsePresenceChannel } from '@holdfast/protocol/presence'
import { type WebSocketHandler, ws } from 'msw'
import type { StoredMessage } from './ChannelLog'
import { type EndReason, Outbox } from './connections'
import { endpointUrl, type MockContext } from './MockContext'
import { type MockPresenceError, PRESENCE_ACK_CURSOR } from './MockPresence'

/** Close code the mock uses for a dropped or refused socket: what browsers report for a lost connection. */
export const ABNORMAL_CLOSURE = 1006
const UTF8 = new TextEncoder()

/** `ws.link` on `<base>/ws`, speaking PROTOCOL.md §3. */
export function websocketHandler(ctx: MockContext): WebSocketHandler {
  const link = ws.link(endpointUrl(ctx.options.url, Endpoint.WebSocket, 'ws'))
  return link.addEventListener('connection', ({ client, info }) => {
    const conn = ctx.open('websocket', undefined)
    const outbox = new Outbox(() => ctx.delayMs, ctx.now)
    const unlisten = new Map<string, () => void>()
    let welcomed = false
    let graceTimer: ReturnType<typeof setTimeout> | undefined
    let handshakeTimer: ReturnType<typeof setTimeout> | undefined

    const send = (frame: ServerFrame) => outbox.push(() => client.send(encodeFrame(frame)))
    const close = (code: number, reason = '') => {
      outbox.close()
      client.close(code, reason)
      conn.markClosed()
    }
    // msw hands sent data over in a microtask; close after it so a last error frame still arrives.
    const closeAfterSend = (code: number, reason: string) =>
      outbox.push(() => queueMicrotask(() => close(code, reason)))
    const cancelGrace = () => {
      if (graceTimer !== undefined) globalThis.clearTimeout(graceTimer)
      graceTimer = undefined
    }
    conn.onClose(() => {
      ctx.presence.release(conn)
      cancelGrace()
      globalThis.clearTimeout(handshakeTimer)
      outbox.close()
      for (const off of unlisten.values()) off()
      unlisten.clear()
    })
    conn.end = (reason: EndReason) => {
      switch (reason.kind) {
        case 'drop':
          close(reason.code ?? ABNORMAL_CLOSURE, reason.reason)
          return
        case 'refuse':
          close(ABNORMAL_CLOSURE)
          return
        case 'reset':
          close(CloseCode.GoingAway, 'mock reset')
          return
        case 'drain':
          send({ type: 'reconnect', retryAfterMs: reason.retryAfterMs })
          closeAfterSend(CloseCode.ServerRestart, formatRetryAfterReason(reason.retryAfterMs))
          return
        case 'expire':
          send({ type: 'error', code: 'token_expired', message: '[holdfast mock] token expired' })
          cancelGrace()
          graceTimer = globalThis.setTimeout(
            () => close(CloseCode.TokenExpired, 'token expired'),
            reason.graceMs,
          )
      }
    }
    client.addEventListener('close', () => conn.markClosed())

    const protocols = info.protocols === undefined ? [] : [info.protocols].flat()
    // A draining server refuses the upgrade (503); a browser sees that as an abnormal closure.
    if (ctx.refused.has('websocket') || ctx.draining) {
      close(ABNORMAL_CLOSURE)
      return
    }
    if (!protocols.includes(PROTOCOL_VERSION)) {
      close(CloseCode.ProtocolError, `[holdfast mock] offer the subprotocol ${PROTOCOL_VERSION}`)
      return
    }
    handshakeTimer = globalThis.setTimeout(
      () => close(CloseCode.HandshakeTimeout, 'no connect frame in time'),
      ctx.options.handshakeTimeoutMs,
    )

    const fail = (code: ErrorCode, message: string, id?: number, channel?: string) => {
      const frame: ServerFrame = { type: 'error', code, message: `[holdfast mock] ${message}` }
      if (id !== undefined) frame.id = id
      if (channel !== undefined) frame.channel = channel
      send(frame)
    }

    const deliver = (message: StoredMessage) =>
      send({ type: 'message', channel: message.channel, cursor: message.cursor, data: message.data })

    const onFrame = (frame: ClientFrame) => {
      switch (frame.type) {
        case 'connect':
          if (welcomed) {
            fail('bad_frame', 'connect was already sent on this socket')
            return
          }
          conn.token = frame.token
          ctx.noteToken(frame.token)
          if (ctx.isExpired(frame.token)) {
            close(CloseCode.TokenExpired, 'token expired')
            return
          }
          welcomed = true
          globalThis.clearTimeout(handshakeTimer)
          send({
            type: 'welcome',
            session: `mock-session-${conn.id}`,
            maxMessageBytes: ctx.options.maxMessageBytes,
          })
          return
        case 'subscribe': {
          if (ctx.isForbidden(frame.channel)) {
            fail('forbidden', `channel "${frame.channel}" is forbidden`, frame.id, frame.channel)
            return
          }
          if (parsePresenceChannel(frame.channel) === null) {
            fail('invalid_channel', `"${frame.channel}" misuses "~presence"`, frame.id, frame.channel)
            return
          }
          unlisten.get(frame.channel)?.()
          const resume = ctx.presence.open(frame.channel, frame.since, conn, conn.token)
          send({
            type: 'subscribed',
            id: frame.id,
            channel: frame.channel,
            epoch: resume.epoch,
            cursor: resume.head,
            recovered: resume.recovered,
          })
          for (const message of resume.replay) deliver(message)
          // History lost under a live subscription: only a fresh subscribe can report the gap.
          const lost = () => close(CloseCode.ServerRestart, formatRetryAfterReason(0))
          unlisten.set(frame.channel, ctx.log.listen(frame.channel, deliver, lost))
          conn.addChannel(frame.channel)
          return
        }
        case 'unsubscribe': {
          unlisten.get(frame.channel)?.()
          unlisten.delete(frame.channel)
          // Unsubscribing from an enter channel is the leave, at once (PROTOCOL.md §8).
          const name = parsePresenceChannel(frame.channel)
          if (name?.connectionId !== undefined) ctx.presence.remove(name.channel, name.connectionId, 'left')
          conn.removeChannel(frame.channel)
          send({ type: 'unsubscribed', id: frame.id, channel: frame.channel })
          return
        }
        case 'publish': {
          if (ctx.isForbidden(frame.channel)) {
            fail('forbidden', `channel "${frame.channel}" is forbidden`, frame.id)
            return
          }
          try {
            if (ctx.presence.publish(frame.channel, frame.data)) {
              send({ type: 'ack', id: frame.id, cursor: PRESENCE_ACK_CURSOR, duplicate: false })
              return
            }
          } catch (error) {
            const e = error as MockPresenceError
            fail(e.code, e.message, frame.id, frame.channel)
            return
          }
          const { message, duplicate } = ctx.log.append(frame.channel, frame.data, frame.key)
          ctx.published.push({
            channel: frame.channel,
            data: frame.data,
            cursor: message.cursor,
            key: frame.key,
            duplicate,
            via: 'websocket',
          })
          send({ type: 'ack', id: frame.id, cursor: message.cursor, duplicate })
          return
        }
        case 'auth':
          ctx.noteToken(frame.token)
          if (ctx.isExpired(frame.token)) {
            fail('token_expired', 'this token has expired; fetch a new one', frame.id)
            return
          }
          conn.token = frame.token
          cancelGrace()
          send({ type: 'ack', id: frame.id })
          return
        case 'ping':
          send({ type: 'pong' })
          return
        case 'pong':
          return
      }
    }

    client.addEventListener('message', (event) => {
      if (!conn.open) return
      const raw = event.data
      if (typeof raw !== 'string') {
        fail('bad_frame', 'binary frames are not part of the protocol; send JSON text')
        return
      }
      const bytes = UTF8.encode(raw).length
      if (bytes > 2 * ctx.options.maxMessageBytes) {
        close(CloseCode.MessageTooBig, 'frame too large')
        return
      }
      if (bytes > ctx.options.maxMessageBytes) {
        fail(
          'message_too_large',
          `frame is ${bytes} bytes; at most ${ctx.options.maxMessageBytes}`,
          idOf(raw),
        )
        return
      }
      const decoded = decodeClientFrame(raw)
      if (!decoded.ok) {
        fail(decoded.error.code, decoded.error.message, idOf(raw))
        if (!welcomed) closeAfterSend(CloseCode.ProtocolError, 'expected connect')
        return
      }
      conn.frames.push(decoded.frame)
      if (!welcomed && decoded.frame.type !== 'connect') {
        fail('bad_frame', 'the first frame must be connect')
        closeAfterSend(CloseCode.ProtocolError, 'expected connect')
        return
      }
      onFrame(decoded.frame)
    })
  })
}

function idOf(raw: string): number | undefined {
  try {
    const id = (JSON.parse(raw) as { id?: unknown }).id
    return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined
  } catch {
    return undefined
  }
}
