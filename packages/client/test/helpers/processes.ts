import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

// Multi-process helpers for the Redis scale-out tests: a redis-server, holdfast-server processes running
// the built CLI, and a round-robin TCP proxy in front of them. Loopback only; every process is stopped by
// its own PID.

const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server'

let availability: boolean | undefined

/**
 * Whether redis-server can run here. Says once, in one line, how to install it when it cannot; in CI
 * (env `CI` set) a missing redis-server is an error, never a skip.
 */
export function redisAvailable(): boolean {
  if (availability !== undefined) return availability
  const probe = spawnSync(REDIS_BIN, ['--version'], { stdio: 'ignore' })
  availability = probe.error === undefined && probe.status === 0
  if (!availability) {
    const line = `[holdfast] ${REDIS_BIN} not found: the Redis scale-out tests are SKIPPED. Install it with: sudo apt-get install -y redis-server`
    if (process.env.CI) throw new Error(`${line} (CI must run them)`)
    console.warn(line)
  }
  return availability
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs: number,
  what: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what} not ready within ${timeoutMs} ms:\n${output}`))
    }, timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = pattern.exec(output)
      if (match) {
        cleanup()
        resolve(match[1] ?? match[0])
      }
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`${what} exited (${code}) before it was ready:\n${output}`))
    }
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

export interface RedisProcess {
  readonly url: string
  readonly port: number
  /** `kill -9`: no goodbye, no final write beyond what `appendfsync` already made durable. */
  kill(): Promise<void>
  /** Starts again on the same port and data directory. */
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * A redis-server on a free loopback port. With `durable`, it keeps an append-only file fsynced on every
 * write in a temporary directory, so a `kill -9` and restart lose nothing it acknowledged.
 */
export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisProcess> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-redis-'))
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--daemonize',
    'no',
  ]
  args.push(
    ...(options.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  )
  let child: ChildProcess | undefined
  const start = async () => {
    const c = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    await waitForOutput(c, /Ready to accept connections/, 10_000, 'redis-server')
  }
  const kill = async () => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    process.kill(c.pid!, 'SIGKILL')
    await exitOf(c)
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async stop() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly pid: number
  /** Resolves with the exit code once the process is gone. */
  readonly exited: Promise<number | null>
  output(): string
  /** `kill -9`. */
  kill(): Promise<void>
  /** SIGTERM: the CLI drains (tells clients when to come back) and exits. */
  terminate(): Promise<number | null>
}

const cli = join(
  dirname(createRequire(import.meta.url).resolve('@holdfast/server/package.json')),
  'dist',
  'cli.js',
)

/** Runs the built `holdfast-server` CLI as a child process, on one Redis or on a Redis Cluster. */
export async function startServerProcess(
  options: {
    redisPrefix: string
    port?: number
    args?: string[]
  } & ({ redisUrl: string } | { redisCluster: string[] }),
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      cli,
      '--host',
      '127.0.0.1',
      '--port',
      String(options.port ?? 0),
      ...('redisUrl' in options
        ? ['--redis', options.redisUrl]
        : ['--redis-cluster', options.redisCluster.join(',')]),
      '--redis-prefix',
      options.redisPrefix,
      ...(options.args ?? []),
    ],
    { env: { ...process.env, HOLDFAST_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout!.on('data', (chunk) => {
    output += chunk
  })
  child.stderr!.on('data', (chunk) => {
    output += chunk
  })
  const exited = exitOf(child)
  const url = await waitForOutput(
    child,
    /holdfast-server listening on (http:\/\/\S+)/,
    15_000,
    'holdfast-server',
  )
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid!,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL')
      await exited
    },
    async terminate() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM')
      return exited
    },
  }
}

export interface RoundRobinProxy {
  /** `http://127.0.0.1:<port>`: point clients here. */
  readonly url: string
  /** Backend ports, tried in turn for each new connection; a refused one is skipped. */
  setBackends(ports: number[]): void
  /** Connections made to each backend port so far. */
  readonly servedBy: Map<number, number>
  /** Open connections per backend port. */
  openTo(port: number): number
  /** Cuts every open connection. */
  dropAll(): void
  close(): Promise<void>
}

/**
 * A TCP proxy that spreads connections over several server processes in turn, as a load balancer would,
 * and moves on to the next backend when one refuses (a killed process). Tests only.
 */
export async function createRoundRobinProxy(initial: number[]): Promise<RoundRobinProxy> {
  let backends = [...initial]
  let turn = 0
  const servedBy = new Map<number, number>()
  const open = new Map<net.Socket, number>()
  const sockets = new Set<net.Socket>()

  const server = net.createServer((client) => {
    client.pause()
    sockets.add(client)
    client.on('error', () => {})
    client.on('close', () => sockets.delete(client))
    const order = backends.map((_, i) => backends[(turn + i) % backends.length]!)
    turn++
    const attempt = (i: number) => {
      if (client.destroyed) return
      const port = order[i]
      if (port === undefined) {
        client.destroy()
        return
      }
      const upstream = net.connect({ host: '127.0.0.1', port })
      sockets.add(upstream)
      let connected = false
      upstream.once('connect', () => {
        connected = true
        servedBy.set(port, (servedBy.get(port) ?? 0) + 1)
        open.set(upstream, port)
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
      upstream.on('error', () => {
        if (!connected) attempt(i + 1)
      })
      upstream.on('close', () => {
        sockets.delete(upstream)
        open.delete(upstream)
        if (connected) client.destroy()
      })
      client.on('close', () => upstream.destroy())
    }
    attempt(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    setBackends(ports) {
      backends = [...ports]
    },
    servedBy,
    openTo(backend) {
      let n = 0
      for (const p of open.values()) if (p === backend) n++
      return n
    },
    dropAll() {
      for (const socket of [...sockets]) socket.destroy()
    },
    close() {
      for (const socket of [...sockets]) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
