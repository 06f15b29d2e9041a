import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Cluster, Redis } from 'ioredis'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { connect, eventually, type TestSocket } from './helpers/fixtures'

// Presence across server processes (the built CLI) sharing one Redis, or one Redis Cluster: a member
// entered on one process is in every process's snapshot; when a process is killed with SIGKILL, its
// members leave once (one leave in the log, whoever sweeps), their deadlines bounded by the TTL its
// refreshes kept, and the members of the other processes stay.

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const redisUrl = inject('redisUrl')
const clusterNodes = inject('redisClusterNodes')
const TTL_MS = 1500
const GRACE_MS = 500

interface Server {
  url: string
  child: ChildProcess
}

async function startServer(backend: string[], prefix: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      cli,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      ...backend,
      '--redis-prefix',
      prefix,
      '--presence-ttl-ms',
      String(TTL_MS),
      '--presence-grace-ms',
      String(GRACE_MS),
    ],
    { env: { ...process.env, HOLDFAST_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let output = ''
  child.stdout!.on('data', (chunk) => {
    output += chunk
  })
  child.stderr!.on('data', (chunk) => {
    output += chunk
  })
  const url = await eventually(() => {
    const match = /holdfast-server listening on (http:\/\/\S+)/.exec(output)
    if (!match) throw new Error(`not listening yet: ${output}`)
    return match[1]!
  })
  return { url, child }
}

async function enter(server: Server, channel: string, id: string): Promise<TestSocket> {
  const socket = await connect(server)
  socket.send({ type: 'subscribe', id: 1, channel: `${channel}~presence~${id}` })
  await socket.next((f) => f.type === 'subscribed')
  return socket
}

async function watch(server: Server, channel: string): Promise<TestSocket> {
  const socket = await connect(server)
  socket.send({ type: 'subscribe', id: 1, channel: `${channel}~presence` })
  await socket.next((f) => f.type === 'subscribed')
  return socket
}

const presenceEvents = (socket: TestSocket, channel: string) =>
  socket.messages(`${channel}~presence`).map((m) => m.data as any)

const count = (socket: TestSocket, channel: string, event: string, id: string) =>
  presenceEvents(socket, channel).filter((d) => d.event === event && d.member?.connectionId === id).length

function describeScaleOut(name: string, backend: () => string[] | undefined, data: () => Redis | Cluster) {
  describe.skipIf(!backend())(`presence across processes on ${name}`, () => {
    it('SIGKILL of one process: its members leave once, within its TTL; the other processes’ members stay', async () => {
      const prefix = `presence-test:${randomUUID()}:`
      const [a, b, c] = await Promise.all([0, 1, 2].map(() => startServer(backend()!, prefix)))
      const channel = 'room'
      const [onB, onC] = [await watch(b!, channel), await watch(c!, channel)]
      await enter(a!, channel, 'onA-0001')
      await enter(a!, channel, 'onA-0002')
      await enter(b!, channel, 'onB-0001')
      for (const w of [onB, onC])
        await eventually(() =>
          expect(['onA-0001', 'onA-0002', 'onB-0001'].map((id) => count(w, channel, 'join', id))).toEqual([
            1, 1, 1,
          ]),
        )
      // Every process's snapshot lists every member, wherever it entered.
      const late = await watch(c!, channel)
      await eventually(() =>
        expect(
          presenceEvents(late, channel)[0]
            ?.members.map((m: any) => m.connectionId)
            .sort(),
        ).toEqual(['onA-0001', 'onA-0002', 'onB-0001']),
      )

      const redis = data()
      const tag = `${prefix}{${channel}~presence}`
      a!.child.kill('SIGKILL')
      const [seconds, micros] = (await redis.time()) as unknown as [string, string]
      const killedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
      // Bounded by construction: no deadline of the dead process's members lies beyond its last refresh + TTL.
      for (const id of ['onA-0001', 'onA-0002']) {
        const deadline = Number(await redis.zscore(`${tag}:pd`, JSON.stringify([id, id])))
        expect(deadline).toBeLessThanOrEqual(killedAt + TTL_MS)
      }

      for (const w of [onB, onC])
        await eventually(
          () => expect(['onA-0001', 'onA-0002'].map((id) => count(w, channel, 'leave', id))).toEqual([1, 1]),
          30_000,
        )
      // A sentinel joins and leaves after: every event before it has arrived, and nothing more came.
      const sentinel = await enter(b!, channel, 'sentinel')
      sentinel.send({ type: 'unsubscribe', id: 2, channel: `${channel}~presence~sentinel` })
      for (const w of [onB, onC]) {
        await eventually(() => expect(count(w, channel, 'leave', 'sentinel')).toBe(1))
        expect(['onA-0001', 'onA-0002'].map((id) => count(w, channel, 'leave', id))).toEqual([1, 1])
        expect(count(w, channel, 'leave', 'onB-0001')).toBe(0)
        expect(
          presenceEvents(w, channel)
            .filter((d) => d.event === 'leave' && d.member.connectionId.startsWith('onA'))
            .map((d) => d.reason),
        ).toEqual(['expired', 'expired'])
      }
      // The log itself holds each leave once, whichever of B and C swept it.
      const log = await redis.xrange(`${tag}:log`, '-', '+')
      const leaves = log
        .map(([, fields]) => JSON.parse(fields[fields.indexOf('d') + 1]!))
        .filter((d) => d.event === 'leave' && d.member.connectionId.startsWith('onA'))
      expect(leaves).toHaveLength(2)
    })
  })
}

let single: Redis | undefined
let cluster: Cluster | undefined
describeScaleOut(
  'one Redis',
  () => (redisUrl ? ['--redis', redisUrl] : undefined),
  () => {
    single ??= new Redis(redisUrl!)
    onTestFinished(() => {
      single?.disconnect()
      single = undefined
    })
    return single
  },
)
describeScaleOut(
  'a Redis Cluster',
  () => (clusterNodes ? ['--redis-cluster', clusterNodes.join(',')] : undefined),
  () => {
    cluster ??= new Cluster(
      clusterNodes!.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':').pop()) })),
    )
    onTestFinished(() => {
      cluster?.disconnect()
      cluster = undefined
    })
    return cluster
  },
)
