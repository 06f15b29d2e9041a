// Many real @holdfast/client instances in one process, each subscribed to "storm", for the reconnect storm.
// `--jitter off` injects random() = 1: full-jitter backoff then always waits the whole ceiling, so every
// client retries in lockstep, which is what a client without jitter does.
// node procs/storm-clients.mjs --port <port> --count <n> --jitter on|off
import { createClient } from '@holdfast/client'
import WebSocket from 'ws'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { port, count = '500', jitter = 'on' } = argvOptions()
const url = `http://127.0.0.1:${port}`
const clients = []

function track(client) {
  const record = {
    client,
    ready: false,
    droppedAt: 0,
    reconnectedAt: 0,
    resumedAt: 0,
    retries: new Map(),
    gaps: 0,
  }
  // A gap: history since the client's cursor could not be replayed (expected with the in-memory broker).
  client.on('gap', () => record.gaps++)
  client.onStateChange((state) => {
    if (state.status === 'reconnecting' && !record.droppedAt && record.ready) record.droppedAt = nowMs()
    // When this client means to try again: the herd as the clients plan it, before any server queueing.
    // One attempt is announced more than once (scheduled, then waiting): keyed by attempt, the last wins.
    if (state.status === 'reconnecting' && record.droppedAt && !record.reconnectedAt)
      record.retries.set(state.attempt, state.nextRetryAt)
    if (state.status === 'connected' && record.droppedAt && !record.reconnectedAt)
      record.reconnectedAt = nowMs()
  })
  client.subscribe('storm', () => {
    if (!record.ready) record.ready = true
    else if (record.reconnectedAt && !record.resumedAt) record.resumedAt = nowMs()
  })
  return record
}

serve({
  /** Creates the clients; resolves once each has received a message (connected and subscribed). */
  open({ timeoutMs = 60_000 }) {
    for (let i = 0; i < Number(count); i++) {
      const client = createClient({
        url,
        WebSocket,
        transports: ['websocket'],
        ...(jitter === 'off' ? { random: () => 1 } : {}),
      })
      clients.push(track(client))
    }
    return new Promise((resolve, reject) => {
      const started = nowMs()
      const check = setInterval(() => {
        const ready = clients.filter((c) => c.ready).length
        if (ready === clients.length) {
          clearInterval(check)
          resolve({ ready, ms: nowMs() - started })
        } else if (nowMs() - started > timeoutMs) {
          clearInterval(check)
          reject(new Error(`${ready} of ${clients.length} clients subscribed within ${timeoutMs} ms`))
        }
      }, 50)
    })
  },

  /** Counts of clients that dropped, reconnected and resumed (received a message after reconnecting). */
  progress: () => ({
    total: clients.length,
    dropped: clients.filter((c) => c.droppedAt).length,
    reconnected: clients.filter((c) => c.reconnectedAt).length,
    resumed: clients.filter((c) => c.resumedAt).length,
    gaps: clients.reduce((a, c) => a + c.gaps, 0),
  }),

  /** Per-client times, ms since the epoch. */
  report: () =>
    clients.map(({ droppedAt, reconnectedAt, resumedAt, retries }) => ({
      droppedAt,
      reconnectedAt,
      resumedAt,
      retries: [...retries.values()],
    })),

  close() {
    for (const { client } of clients) client.close()
  },
})
