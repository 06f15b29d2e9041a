// Presence members in one process: raw Holdfast WebSockets (no SDK) that enter and leave one channel's
// presence on command, so the server's cost per join and leave can be read from the server alone.
// Entering is what @holdfast/client/presence does: declare `{"info":…}` on the enter channel, then subscribe
// to it; leaving is the unsubscribe (on a WebSocket that frame is the leave, PROTOCOL.md §8).
// Started by fanout.mjs: node procs/presence-members.mjs --port <port> --channel <channel>
import WebSocket from 'ws'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'
import { runLimited } from '../lib/concurrency.mjs'

const { port, channel = 'bench.room' } = argvOptions()
const OPEN_TIMEOUT_MS = 30_000
const REPLY_TIMEOUT_MS = 30_000

/** One connection: its socket, and the replies it waits for by request id. */
class Member {
  #ws
  #nextId = 1
  #pending = new Map()

  constructor(ws) {
    this.#ws = ws
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString())
      if (frame.type === 'ping') return ws.send('{"type":"pong"}')
      const waiter = frame.id === undefined ? undefined : this.#pending.get(frame.id)
      if (!waiter) return
      this.#pending.delete(frame.id)
      if (frame.type === 'error') waiter.reject(new Error(`${frame.code}: ${frame.message}`))
      else waiter.resolve(frame)
    })
  }

  /** Sends a request frame and resolves with its reply (ack, subscribed, unsubscribed). */
  request(frame) {
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${frame.type}`)), REPLY_TIMEOUT_MS)
      this.#pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.#ws.send(JSON.stringify({ ...frame, id }))
    })
  }

  close() {
    this.#ws.terminate()
  }
}

function openMember() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, 'holdfast.v1', { perMessageDeflate: false })
    const timer = setTimeout(() => reject(new Error('no welcome')), OPEN_TIMEOUT_MS)
    ws.on('error', reject)
    ws.once('open', () => ws.send('{"type":"connect"}'))
    const onWelcome = (data) => {
      if (!data.toString().startsWith('{"type":"welcome"')) return
      ws.off('message', onWelcome)
      clearTimeout(timer)
      resolve(new Member(ws))
    }
    ws.on('message', onWelcome)
  })
}

/** The connection id of member `i`: 8 to 64 of `A-Z a-z 0-9 _ -`. */
const connectionId = (i) => `member-${String(i).padStart(8, '0')}`
const enterChannel = (i) => `${channel}~presence~${connectionId(i)}`

const members = []

serve({
  /** Opens `count` connections (not members yet), `parallel` at a time. */
  async open({ count, parallel = 50 }) {
    const startedAt = nowMs()
    const opened = new Array(count)
    await runLimited(count, parallel, async (i) => {
      opened[i] = await openMember()
    })
    members.push(...opened)
    return { opened: count, ms: nowMs() - startedAt }
  },

  /** Members [from, to) enter, each with `{ name }` as info. */
  async enter({ from = 0, to = members.length, parallel = 20 }) {
    const startedAt = nowMs()
    await runLimited(to - from, parallel, async (k) => {
      const i = from + k
      const member = members[i]
      await member.request({
        type: 'publish',
        channel: enterChannel(i),
        data: { info: { name: `member ${i}` } },
      })
      await member.request({ type: 'subscribe', channel: enterChannel(i) })
    })
    return { entered: to - from, ms: nowMs() - startedAt }
  },

  /** Members [from, to) leave (unsubscribe from their enter channel). */
  async leave({ from = 0, to = members.length, parallel = 20 }) {
    const startedAt = nowMs()
    await runLimited(to - from, parallel, (k) =>
      members[from + k].request({ type: 'unsubscribe', channel: enterChannel(from + k) }),
    )
    return { left: to - from, ms: nowMs() - startedAt }
  },

  close() {
    for (const member of members) member.close()
    members.length = 0
  },
})
