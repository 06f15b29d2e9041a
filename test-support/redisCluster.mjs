// A throwaway Redis Cluster on loopback for tests, CI and benchmarks: `masters` masters with
// `replicasPerMaster` replicas each, every node a redis-server on two free ports (client and cluster bus),
// its nodes.conf in a temporary directory. Bounded in time; every node is stopped by its own PID, and a
// small watchdog stops them too if the process that started them dies without cleaning up.
// Types: redisCluster.d.mts. By hand: node test-support/redisCluster.mjs (prints the nodes, Ctrl-C stops).
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HOST = '127.0.0.1'

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/** Distinct free ports (a node needs two: clients and the cluster bus). */
async function freePorts(count) {
  const ports = new Set()
  while (ports.size < count) ports.add(await freePort())
  return [...ports]
}

function cli(cliBin, args, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    execFile(cliBin, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ ok: !error, code: error?.code ?? 0, output: `${stdout}${stderr}` })
    })
  })
}

function waitForReady(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let output = ''
    const done = (error) => {
      clearTimeout(timer)
      child.stdout.off('data', onData)
      child.off('exit', onExit)
      child.off('error', onError)
      // Keep draining its output so a chatty node never blocks on a full pipe.
      child.stdout.resume()
      if (error) reject(error)
      else resolve()
    }
    const timer = setTimeout(
      () => done(new Error(`redis-server not ready within ${timeoutMs} ms:\n${output.slice(-500)}`)),
      timeoutMs,
    )
    const onData = (chunk) => {
      output += chunk
      if (output.includes('Ready to accept connections')) done()
    }
    const onExit = (code) => done(new Error(`redis-server exited with ${code}:\n${output.slice(-500)}`))
    const onError = (error) => done(error)
    child.stdout.setEncoding('utf8').on('data', onData)
    child.stderr.resume()
    child.once('exit', onExit)
    child.once('error', onError)
  })
}

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Parses `INFO` or `CLUSTER INFO` text into an object. */
function fields(text) {
  const out = {}
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim()
  }
  return out
}

/**
 * Starts the cluster and resolves once every slot is covered, every node agrees on the slot map and
 * every replica is in sync with its master. Rejects (after stopping whatever it started) past `timeoutMs`.
 */
export async function startRedisCluster(options = {}) {
  const {
    masters = 3,
    replicasPerMaster = 1,
    nodeTimeoutMs = 1000,
    timeoutMs = 60_000,
    redisServer = process.env.REDIS_SERVER_BIN ?? 'redis-server',
    redisCli = process.env.REDIS_CLI_BIN ?? 'redis-cli',
  } = options
  const startedAt = Date.now()
  const remaining = () => Math.max(1000, timeoutMs - (Date.now() - startedAt))
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-cluster-'))
  const count = masters * (1 + replicasPerMaster)
  const ports = await freePorts(count * 2)
  /** @type {Array<{ port: number, busPort: number, dir: string, child: import('node:child_process').ChildProcess | undefined }>} */
  const nodes = Array.from({ length: count }, (_, i) => ({
    port: ports[2 * i],
    busPort: ports[2 * i + 1],
    dir: join(dir, `node-${i}`),
    child: undefined,
  }))
  const pidFile = join(dir, 'pids')
  const writePids = () =>
    writeFileSync(pidFile, nodes.map((n) => n.child?.pid ?? '').join(' '), { encoding: 'utf8' })

  // If this process dies without stopping the cluster (SIGKILL, a crashed test worker), the watchdog
  // notices within a second and stops every node it was told about, then removes the directory.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -9 $(cat "$2/pids" 2>/dev/null) 2>/dev/null; rm -rf "$2"',
      'holdfast-cluster-watchdog',
      String(process.pid),
      dir,
    ],
    { detached: true, stdio: 'ignore' },
  )
  watchdog.unref()

  const killAllNow = () => {
    for (const node of nodes) {
      const child = node.child
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
  process.on('exit', killAllNow)

  async function startNode(node) {
    mkdirSync(node.dir, { recursive: true })
    const child = spawn(
      redisServer,
      [
        '--port',
        String(node.port),
        '--bind',
        HOST,
        '--dir',
        node.dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-port',
        String(node.busPort),
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        // A replica cut off from its master may still be promoted (the failover tests rely on it).
        '--cluster-replica-validity-factor',
        '0',
        // Replicas sync at once (the default waits 5 s for more replicas to share one transfer).
        '--repl-diskless-sync-delay',
        '0',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    node.child = child
    writePids()
    await waitForReady(child, Math.min(15_000, remaining()))
  }

  async function stop() {
    process.off('exit', killAllNow)
    try {
      process.kill(watchdog.pid, 'SIGKILL')
    } catch {
      // already gone
    }
    await Promise.all(
      nodes.map(async (node) => {
        const child = node.child
        if (!child) return
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
        await exited(child)
      }),
    )
    rmSync(dir, { recursive: true, force: true })
  }

  const seeds = nodes.map((n) => `${HOST}:${n.port}`)

  async function clusterInfo(port) {
    const result = await cli(redisCli, ['-h', HOST, '-p', String(port), 'CLUSTER', 'INFO'], 5000)
    return result.ok ? fields(result.output) : undefined
  }

  /** Resolves once every live node says the cluster is ok and agrees on the slot map, and replicas are in sync. */
  async function waitHealthy(waitMs = 30_000) {
    const deadline = Date.now() + waitMs
    let last = ''
    while (Date.now() < deadline) {
      const live = nodes.filter((n) => n.child && n.child.exitCode === null && n.child.signalCode === null)
      const infos = await Promise.all(live.map((n) => clusterInfo(n.port)))
      const ok = infos.every((i) => i?.cluster_state === 'ok' && i?.cluster_slots_ok === '16384')
      if (ok) {
        const check = await cli(redisCli, ['--cluster', 'check', `${HOST}:${live[0].port}`], 10_000)
        const synced = await Promise.all(
          live.map(async (n) => {
            const info = fields(
              (await cli(redisCli, ['-h', HOST, '-p', String(n.port), 'INFO', 'replication'], 5000)).output,
            )
            return info.role === 'master' || info.master_link_status === 'up'
          }),
        )
        if (
          check.ok &&
          check.output.includes('All nodes agree about slots configuration') &&
          !check.output.includes('[ERR]') &&
          !check.output.includes('[WARNING]') &&
          synced.every(Boolean)
        )
          return
        last = check.output.slice(-400)
      } else last = JSON.stringify(infos.map((i) => i?.cluster_state))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`[holdfast] the Redis Cluster did not become healthy within ${waitMs} ms: ${last}`)
  }

  try {
    await Promise.all(nodes.map(startNode))
    const create = await cli(
      redisCli,
      ['--cluster', 'create', ...seeds, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
      remaining(),
    )
    if (create.code === 'ENOENT')
      throw Object.assign(new Error(`[holdfast] ${redisCli} not found`), { code: 'ENOENT' })
    if (!create.ok || !create.output.includes('All 16384 slots covered'))
      throw new Error(`[holdfast] redis-cli --cluster create failed:\n${create.output.slice(-800)}`)
    await waitHealthy(remaining())
  } catch (error) {
    await stop()
    throw error
  }

  function nodeAt(port) {
    const node = nodes.find((n) => n.port === port)
    if (!node) throw new Error(`[holdfast] no cluster node on port ${port}`)
    return node
  }

  return {
    seeds,
    dir,
    ports: nodes.map((n) => n.port),
    redisCli,
    /** Runs one redis-cli command against a node; resolves with its output, rejects on failure. */
    async command(port, ...args) {
      const result = await cli(redisCli, ['-h', HOST, '-p', String(port), ...args.map(String)])
      if (!result.ok || result.output.startsWith('ERR') || result.output.startsWith('(error)'))
        throw new Error(`[holdfast] redis-cli -p ${port} ${args.join(' ')}: ${result.output.trim()}`)
      return result.output.trim()
    },
    /** `INFO <section>` of one node as an object. */
    async info(port, section = 'replication') {
      return fields((await cli(redisCli, ['-h', HOST, '-p', String(port), 'INFO', section])).output)
    },
    pid(port) {
      return nodeAt(port).child?.pid
    },
    /** Sends a signal to one node (SIGKILL, SIGSTOP, SIGCONT); resolves once a killed node has exited. */
    async signal(port, signal) {
      const child = nodeAt(port).child
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      process.kill(child.pid, signal)
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited(child)
    },
    /** Starts a stopped node again on the same ports and nodes.conf: it rejoins the cluster. */
    async restart(port) {
      const node = nodeAt(port)
      if (node.child && node.child.exitCode === null && node.child.signalCode === null)
        throw new Error(`[holdfast] node ${port} is still running`)
      await startNode(node)
    },
    waitHealthy,
    stop,
  }
}

// By hand: start a cluster, print its nodes, stop it on Ctrl-C.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cluster = await startRedisCluster()
  process.stdout.write(
    `Redis Cluster ready: ${cluster.seeds.join(',')}\n  holdfast-server --redis-cluster ${cluster.seeds.join(',')}\n`,
  )
  const shutdown = () => cluster.stop().then(() => process.exit(0))
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
  setInterval(() => {}, 1 << 30)
}
