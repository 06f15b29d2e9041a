// One client in a fresh process, receiving the stream-server's N messages. Reports wall time and this
// process's CPU time between the first and the last message. Clients: holdfast-ws, holdfast-sse,
// socketio (socket.io-client), eventsource (the `eventsource` package + JSON.parse).
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { client: kind, port, count } = argvOptions()
const N = Number(count)
const BASE = `http://127.0.0.1:${port}`

/** Each client: `start(onMessage)` subscribes and returns a function that closes it. */
const CLIENTS = {
  async 'holdfast-ws'(onMessage) {
    const { createClient } = await import('@holdfast/client')
    const { default: WebSocket } = await import('ws')
    const client = createClient({ url: BASE, WebSocket, transports: ['websocket'] })
    client.subscribe('bench', onMessage)
    return () => client.close()
  },
  async 'holdfast-sse'(onMessage) {
    const { createClient } = await import('@holdfast/client')
    const client = createClient({ url: BASE, fetch: globalThis.fetch, transports: ['sse'] })
    client.subscribe('bench', onMessage)
    return () => client.close()
  },
  async socketio(onMessage) {
    const { io } = await import('socket.io-client')
    const socket = io(BASE, { transports: ['websocket'], reconnection: false })
    socket.on('message', onMessage)
    return () => socket.close()
  },
  async eventsource(onMessage) {
    const { EventSource } = await import('eventsource')
    const source = new EventSource(`${BASE}/sse?channel=bench`)
    source.onmessage = (event) => onMessage(JSON.parse(event.data))
    return () => source.close()
  },
}

const start = CLIENTS[kind]
if (!start) throw new Error(`unknown client "${kind}"; use one of ${Object.keys(CLIENTS).join(', ')}`)

serve({
  /** Subscribes, receives N messages, closes; resolves with timings. */
  run({ timeoutMs }) {
    return new Promise((resolve, reject) => {
      let received = 0
      let checksum = 0
      let firstAt = 0
      let firstCpu
      let stop = () => {}
      const startedAt = nowMs()
      const timer = setTimeout(() => {
        stop()
        reject(new Error(`received ${received} of ${N} messages within ${timeoutMs} ms`))
      }, timeoutMs)
      const onMessage = (message) => {
        // Touch the payload the way an app would, so nothing is optimised away.
        checksum += message.data.s
        if (++received === 1) {
          firstAt = nowMs()
          firstCpu = process.cpuUsage()
        }
        if (received === N) {
          const lastAt = nowMs()
          const cpu = process.cpuUsage(firstCpu)
          clearTimeout(timer)
          stop()
          const expectedSum = ((N - 1) * N) / 2
          if (checksum !== expectedSum) reject(new Error(`checksum ${checksum}, expected ${expectedSum}`))
          resolve({
            received,
            connectMs: firstAt - startedAt,
            seconds: (lastAt - firstAt) / 1000,
            msgPerSec: (N - 1) / ((lastAt - firstAt) / 1000),
            cpuUsPerMsg: (cpu.user + cpu.system) / (N - 1),
          })
        }
      }
      start(onMessage).then((close) => {
        stop = close
      }, reject)
    })
  },
})
