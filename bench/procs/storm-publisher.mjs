// Publishes a tick `{ seq, t }` to channel "storm" every `tickMs` straight into Redis (the broker the
// servers share), so ticks keep coming while a server is down or restarting: a client that resumes must get
// them from history. `stop` ends the ticks and returns every tick Redis acknowledged.
// node procs/storm-publisher.mjs --redis <url> [--tick-ms 100]
import { redisBroker } from '@holdfast/server'
import { argvOptions, nowMs, serve } from '../lib/child.mjs'

const { redis, 'tick-ms': tickMs = '100' } = argvOptions()
const broker = redisBroker({ url: redis })
await broker.ready(10_000)
const published = []
let seq = 0
let failed = 0
const timer = setInterval(() => {
  const tick = { seq: ++seq, t: nowMs() }
  broker.publish('storm', JSON.stringify(tick)).then(
    () => published.push(tick.seq),
    () => failed++,
  )
}, Number(tickMs))

serve({
  async stop() {
    clearInterval(timer)
    // Publishes in flight settle first.
    await new Promise((resolve) => setTimeout(resolve, 200))
    await broker.close()
    return { published: published.sort((a, b) => a - b), failed }
  },
})
