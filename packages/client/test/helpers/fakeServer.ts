import { type ClientFrame, decodeClientFrame, encodeFrame, type ServerFrame } from '@holdfast/protocol'
import { ws } from 'msw'
import { setupServer } from 'msw/node'

export const BASE_URL = 'http://holdfast.test'

export interface FakeConnection {
  frames: ClientFrame[]
  send(frame: ServerFrame): void
  close(code?: number, reason?: string): void
}

export interface FakeServerOptions {
  /** Answer `connect` with `welcome` automatically. Defaults to true. */
  autoWelcome?: boolean
  /** Answer `subscribe` with `subscribed` automatically. Defaults to true. */
  autoSubscribe?: boolean
  /** Answer `ping` with `pong`. Defaults to true. */
  autoPong?: boolean
  onFrame?(frame: ClientFrame, conn: FakeConnection): void
}

/** A scripted Holdfast WebSocket server on msw, for unit tests of the client. */
export function createFakeServer(options: FakeServerOptions = {}) {
  const link = ws.link(`${BASE_URL.replace('http', 'ws')}/ws`)
  const connections: FakeConnection[] = []
  const server = setupServer(
    link.addEventListener('connection', ({ client }) => {
      const conn: FakeConnection = {
        frames: [],
        send: (frame) => client.send(encodeFrame(frame)),
        close: (code, reason) => client.close(code, reason),
      }
      connections.push(conn)
      client.addEventListener('message', (event) => {
        const decoded = decodeClientFrame(event.data)
        if (!decoded.ok) throw decoded.error
        const frame = decoded.frame
        conn.frames.push(frame)
        if (frame.type === 'connect' && options.autoWelcome !== false) {
          conn.send({ type: 'welcome', session: `s${connections.length}`, maxMessageBytes: 1024 })
        }
        if (frame.type === 'subscribe' && options.autoSubscribe !== false) {
          conn.send({
            type: 'subscribed',
            id: frame.id,
            channel: frame.channel,
            epoch: 'e1',
            cursor: frame.since ?? 'e1:0',
            recovered: true,
          })
        }
        if (frame.type === 'ping' && options.autoPong !== false) conn.send({ type: 'pong' })
        options.onFrame?.(frame, conn)
      })
    }),
  )
  return {
    server,
    connections,
    get last(): FakeConnection {
      const c = connections.at(-1)
      if (!c) throw new Error('no connection yet')
      return c
    },
  }
}
