// Raw protocol connections for the refusal-cost measurement: `refusals` opens WebSockets that say `connect`
// and are closed with 4003 (the server's admission refuses them); `admissions` opens WebSockets that are
// welcomed, resubscribe to "storm" from a cursor (as a resuming client does) and stay open until `close`.
// node procs/connect-driver.mjs --url <ws url>
import WebSocket from 'ws'
import { argvOptions, serve } from '../lib/child.mjs'
import { runLimited } from '../lib/concurrency.mjs'

const { url } = argvOptions()
const open = []

function attempt({ since }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/ws`, 'holdfast.v1')
    ws.on('open', () => ws.send('{"type":"connect"}'))
    ws.on('error', reject)
    ws.on('close', (code) => resolve({ outcome: code === 4003 ? 'refused' : `closed ${code}` }))
    ws.on('message', (raw) => {
      const frame = JSON.parse(String(raw))
      if (frame.type === 'welcome')
        ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'storm', ...(since ? { since } : {}) }))
      else if (frame.type === 'subscribed') {
        open.push(ws)
        resolve({ outcome: 'admitted', cursor: frame.cursor })
      }
    })
  })
}

serve({
  /** `count` connection attempts, `concurrency` at a time; resolves with how each ended. */
  async run({ count, concurrency = 20, since }) {
    const outcomes = {}
    await runLimited(count, concurrency, async () => {
      const { outcome } = await attempt({ since })
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    })
    return outcomes
  },
  /** A cursor of "storm" `back` messages before its newest (so a resubscribe replays them). */
  async cursor() {
    return (await attempt({})).cursor
  },
  close() {
    for (const ws of open.splice(0)) ws.terminate()
  },
})
