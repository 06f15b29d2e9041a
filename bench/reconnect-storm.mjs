// Reconnect storm: N real @holdfast/client instances subscribed over WebSocket, the server process killed
// (SIGKILL, no goodbye) and started again on the same port after a downtime. Records WebSocket arrivals at
// the restarted server per 100 ms, with the client's jitter and with jitter turned off (random() = 1), and
// the time until every client has resumed (received a message after reconnecting).
// History lives in a throwaway Redis (issue 5's broker) when redis-server is installed, so clients resume
// without a gap; otherwise in memory (every client then reports a gap). `--broker memory|redis` forces one.
// Run: node bench/reconnect-storm.mjs [--smoke] [--broker memory|redis]
import { argvOptions, nowMs } from './lib/child.mjs'
import { sleep } from './lib/concurrency.mjs'
import { ChildGroup, deadline } from './lib/processes.mjs'
import { hasRedisServer, startRedis } from './lib/redis.mjs'
import { commandLine, num, printTable, runIfMain, writeResult } from './lib/results.mjs'

const FULL = { clients: 1000, clientProcesses: 2, downMs: 2000, binMs: 100, resumeTimeoutMs: 45_000 }
const SMOKE = { clients: 20, clientProcesses: 1, downMs: 500, binMs: 100, resumeTimeoutMs: 10_000 }

async function storm(jitter, sizes, broker) {
  const group = new ChildGroup()
  try {
    const brokerArgs = broker === 'redis' ? ['--redis', await startRedis(group)] : []
    let server = await group.spawn('procs/storm-server.mjs', { args: ['--port', '0', ...brokerArgs] })
    const port = String(server.info.port)
    const per = Math.ceil(sizes.clients / sizes.clientProcesses)
    const split = Array.from({ length: sizes.clientProcesses }, (_, i) =>
      Math.min(per, sizes.clients - i * per),
    )
    const clientProcs = await Promise.all(
      split.map((n) =>
        group.spawn('procs/storm-clients.mjs', {
          args: ['--port', port, '--count', String(n), '--jitter', jitter ? 'on' : 'off'],
        }),
      ),
    )
    await Promise.all(clientProcs.map((c) => c.call('open', { timeoutMs: 60_000 }, 70_000)))
    const killedAt = nowMs()
    server.kill()
    await sleep(sizes.downMs)
    server = await group.spawn('procs/storm-server.mjs', { args: ['--port', port, ...brokerArgs] })
    const upAt = server.info.listeningAt
    let progress
    const giveUpAt = nowMs() + sizes.resumeTimeoutMs
    do {
      await sleep(200)
      const parts = await Promise.all(clientProcs.map((c) => c.call('progress')))
      progress = parts.reduce((a, p) => ({
        total: a.total + p.total,
        dropped: a.dropped + p.dropped,
        reconnected: a.reconnected + p.reconnected,
        resumed: a.resumed + p.resumed,
        gaps: a.gaps + p.gaps,
      }))
    } while (progress.resumed < progress.total && nowMs() < giveUpAt)
    const arrivals = await server.call('arrivals')
    const clients = (await Promise.all(clientProcs.map((c) => c.call('report')))).flat()
    await Promise.all(clientProcs.map((c) => c.call('close').catch(() => {})))
    return { broker, ...summarize({ jitter, sizes, killedAt, upAt, arrivals, clients, progress }) }
  } finally {
    group.close()
  }
}

function summarize({ jitter, sizes, killedAt, upAt, arrivals, clients, progress }) {
  const resumed = clients.filter((c) => c.resumedAt).map((c) => c.resumedAt)
  const lastResume = Math.max(...resumed)
  const end = Math.max(lastResume, ...arrivals)
  const bins = new Array(Math.max(1, Math.ceil((end - upAt) / sizes.binMs) + 1)).fill(0)
  for (const at of arrivals) bins[Math.max(0, Math.floor((at - upAt) / sizes.binMs))]++
  const firstBin = bins.findIndex((v) => v > 0)
  // Retries as the clients scheduled them (Date.now() based nextRetryAt), binned from the kill.
  const retries = clients.flatMap((c) => c.retries)
  const retryBins = new Array(Math.max(1, Math.ceil((end - killedAt) / sizes.binMs) + 1)).fill(0)
  for (const at of retries) {
    const i = Math.floor((at - killedAt) / sizes.binMs)
    if (i >= 0 && i < retryBins.length) retryBins[i]++
  }
  return {
    jitter: jitter ? 'on (full jitter, as shipped)' : 'off (random() = 1: lockstep)',
    clients: progress.total,
    dropped: progress.dropped,
    resumed: progress.resumed,
    gaps: progress.gaps,
    arrivals: arrivals.length,
    peakPerBin: Math.max(...bins),
    scheduledRetries: retries.length,
    scheduledPeakPerBin: Math.max(...retryBins),
    restartAfterKillMs: upAt - killedAt,
    firstArrivalMs: firstBin * sizes.binMs,
    timeToFullResumeMs: resumed.length === progress.total ? lastResume - upAt : null,
    timeToFullResumeSinceKillMs: resumed.length === progress.total ? lastResume - killedAt : null,
    bins,
    retryBins,
  }
}

export async function run({ smoke }) {
  const sizes = { ...(smoke ? SMOKE : FULL) }
  if (argvOptions().clients) sizes.clients = Number(argvOptions().clients)
  const broker = argvOptions().broker ?? (hasRedisServer() ? 'redis' : 'memory')
  const cancel = deadline(smoke ? 60_000 : 5 * 60_000, 'reconnect-storm')
  const rows = []
  try {
    for (const jitter of [true, false]) {
      process.stdout.write(`reconnect-storm: jitter ${jitter ? 'on' : 'off'} ... `)
      try {
        const row = await storm(jitter, sizes, broker)
        console.log(
          `peak ${num(row.peakPerBin)} / ${sizes.binMs} ms, full resume ${num(row.timeToFullResumeMs)} ms`,
        )
        rows.push(row)
      } catch (error) {
        const message = String(error?.message ?? error).split('\n')[0]
        console.log(`failed: ${message}`)
        rows.push({ jitter: jitter ? 'on' : 'off', error: message })
      }
    }
  } finally {
    cancel()
  }
  // Both runs over one window (restart until the later run has fully resumed), so the ratios compare:
  // a lockstep herd that is over quickly must not look smooth just because its own window is short.
  const windowBins = Math.max(...rows.filter((r) => !r.error).map((r) => r.bins.length))
  for (const r of rows) {
    if (r.error) continue
    while (r.bins.length < windowBins) r.bins.push(0)
    const retryWindow = Math.max(...rows.filter((x) => !x.error).map((x) => x.retryBins.length))
    while (r.retryBins.length < retryWindow) r.retryBins.push(0)
    r.meanPerBin = r.arrivals / windowBins
    r.peakToMean = r.peakPerBin / r.meanPerBin
  }
  printTable(
    `Reconnect storm (${broker} broker): ${num(sizes.clients)} clients, server killed and back after ${num(sizes.downMs)} ms (arrivals per ${sizes.binMs} ms)`,
    [
      'jitter',
      'resumed',
      'gaps',
      'arrivals',
      'peak / bin',
      'mean / bin',
      'peak-to-mean',
      'full resume after restart (ms)',
      'scheduled retries: peak / bin',
    ],
    rows.map((r) =>
      r.error
        ? [r.jitter, `failed: ${r.error}`, '', '', '', '', '', '', '']
        : [
            r.jitter,
            `${num(r.resumed)} / ${num(r.clients)}`,
            num(r.gaps),
            num(r.arrivals),
            num(r.peakPerBin),
            num(r.meanPerBin, 1),
            num(r.peakToMean, 1),
            num(r.timeToFullResumeMs),
            num(r.scheduledPeakPerBin),
          ],
    ),
  )
  const path = await writeResult('reconnect-storm', {
    smoke,
    command: commandLine('reconnect-storm.mjs'),
    data: {
      sizes,
      broker,
      method:
        `One Holdfast server process (${broker === 'redis' ? 'Redis broker, throwaway redis-server' : 'in-memory broker'}); ` +
        'real @holdfast/client instances (WebSocket, default backoff: full ' +
        `jitter, 500 ms base, 30 s cap) in ${sizes.clientProcesses} process(es), all subscribed. The server is SIGKILLed, ` +
        `restarted on the same port after ${sizes.downMs} ms, and records every WebSocket upgrade. Peak-to-mean = ` +
        'busiest bin / mean per bin over one window shared by both runs (from the restart until the slower run has ' +
        'fully resumed). Full resume = last client to receive a ' +
        'message after reconnecting, measured from the moment the new server listens.',
      rows,
    },
  })
  console.log(`wrote ${path}`)
  return rows
}

await runIfMain(import.meta.url, run)
