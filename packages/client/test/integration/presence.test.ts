import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createServer, type HoldfastServer, type ServerOptions } from '@holdfast/server'
import { afterEach, describe, expect, test } from 'vitest'
import type { HoldfastClient, TransportName } from '../../src'
import { type Presence, presence } from '../../src/presence'
import { type ChaosProxy, createChaosProxy } from '../helpers/chaosProxy'
import { until } from '../helpers/collect'
import { nodeClients } from '../helpers/nodeClients'

// Presence with real clients against the reference server, on each transport: what apps see. Timing-free:
// every wait is for a condition (generous deadline), and "nothing happened" is proven by a later event.

const fixture = fileURLToPath(new URL('../fixtures/presenceMember.ts', import.meta.url))
const WAIT = 20_000
const clients = nodeClients()
let server: HoldfastServer | undefined
let proxies: ChaosProxy[] = []
let children: ChildProcess[] = []

afterEach(async () => {
  clients.closeAll()
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children = []
  await Promise.all(proxies.map((p) => p.close()))
  proxies = []
  await server?.close({ timeoutMs: 500 })
  server = undefined
})

async function start(presenceOptions: ServerOptions['presence'] = {}) {
  server = createServer({
    poll: { timeoutMs: 1000 },
    sse: { heartbeatMs: 1000, retryMs: 50 },
    presence: { sweepIntervalMs: 50, ...presenceOptions },
  })
  await server.listen(0)
  return server
}

async function proxied(): Promise<ChaosProxy> {
  const proxy = await createChaosProxy({ port: server!.port! })
  proxies.push(proxy)
  return proxy
}

function client(url: string, transport: TransportName): HoldfastClient {
  return clients.create({ url, transports: [transport], holdMs: 1000, lazy: false })
}

/** Every user-level event a presence view reports, as "join alice". */
function record(view: Presence) {
  const seen: string[] = []
  for (const event of ['join', 'leave', 'update'] as const)
    view.on(event, (user) => seen.push(`${event} ${user.clientId}`))
  return seen
}

const clientIds = (view: Presence) => view.state.members.map((u) => u.clientId)
const me = (view: Presence) => view.state.me?.clientId

/** A third client enters and leaves: once `watcher` has seen it go, every earlier event has arrived. */
async function sentinel(url: string, transport: TransportName, watcher: Presence) {
  const c = client(url, transport)
  const view = presence(c, 'room', { enter: true })
  await until(() => !!me(view) && clientIds(watcher).includes(me(view)!), WAIT, 'the sentinel to join')
  const id = me(view)!
  view.leave()
  await until(() => !clientIds(watcher).includes(id), WAIT, 'the sentinel to leave')
  c.close()
  return id
}

describe.each(['websocket', 'sse', 'longpoll'] as const)('presence over %s', (transport) => {
  test('two clients see each other (snapshot, join with info); one leaving is seen by the other at once', async () => {
    const { url } = await start({ graceMs: 60_000 })
    const alice = presence(client(url!, transport), 'room', { enter: true, info: { name: 'Alice' } })
    await until(() => !!me(alice), WAIT, 'alice to be in')
    const bobView = presence(client(url!, transport), 'room', { enter: true, info: { name: 'Bob' } })
    const seenByAlice = record(alice)
    await until(() => !!me(bobView) && clientIds(alice).length === 2, WAIT, 'alice to see bob')
    // Bob's first state is a snapshot with alice in it, info and all.
    expect(bobView.state.members.find((u) => u.clientId === me(alice))?.info).toEqual({ name: 'Alice' })
    expect(alice.state.members.find((u) => u.clientId === me(bobView))?.info).toEqual({ name: 'Bob' })
    expect(seenByAlice).toEqual([`join ${me(bobView)}`])
    const bob = me(bobView)!
    bobView.leave()
    // Long before the 60 s grace: an explicit leave is immediate.
    await until(() => !clientIds(alice).includes(bob), WAIT, 'alice to see bob leave')
    expect(seenByAlice).toEqual([`join ${bob}`, `leave ${bob}`])
    expect(alice.state).toMatchObject({ status: 'live', count: 1, clients: 1 })
  })

  test('a connection dropped and back within the grace shows no leave and no join, to others or to itself', async () => {
    const { url } = await start({ graceMs: 60_000 })
    const proxy = await proxied()
    const aliceClient = client(proxy.url, transport)
    const alice = presence(aliceClient, 'room', { enter: true })
    const bob = presence(client(url!, transport), 'room', { enter: true })
    await until(() => !!me(alice) && !!me(bob) && clientIds(bob).length === 2, WAIT, 'both in')
    const seenByBob = record(bob)
    const seenByAlice = record(alice)
    const connects = aliceClient.stats.connects
    expect(proxy.dropAll()).toBeGreaterThan(0)
    await until(
      () => aliceClient.stats.connects > connects && aliceClient.state.status === 'connected',
      WAIT,
      'alice back',
    )
    const id = await sentinel(url!, transport, bob)
    await until(() => seenByAlice.includes(`leave ${id}`), WAIT, 'alice to see the sentinel go')
    expect(seenByBob).toEqual([`join ${id}`, `leave ${id}`])
    expect(seenByAlice).toEqual([`join ${id}`, `leave ${id}`])
    expect(clientIds(bob)).toEqual(clientIds(alice))
  })

  test('a client process killed with SIGKILL leaves for the others (reason: its time ran out)', async () => {
    const { url } = await start({ graceMs: 300 })
    const bob = presence(client(url!, transport), 'room')
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, url!, transport, 'room'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
    })
    await until(() => /entered (\S+)/.test(output), WAIT, 'the child to enter')
    const id = /entered (\S+)/.exec(output)![1]!
    await until(() => clientIds(bob).includes(id), WAIT, 'bob to see the child')
    const seen = record(bob)
    child.kill('SIGKILL')
    await until(() => !clientIds(bob).includes(id), WAIT, 'bob to see the child leave')
    expect(seen).toEqual([`leave ${id}`])
  })
})

describe('presence refusals', () => {
  test('a full channel refuses to let a client in (too_many_subscriptions); it keeps watching', async () => {
    const { url } = await start({ maxMembers: 1 })
    const alice = presence(client(url!, 'websocket'), 'room', { enter: true })
    await until(() => !!me(alice), WAIT, 'alice in')
    const bob = presence(client(url!, 'sse'), 'room', { enter: true })
    await until(() => bob.state.error !== undefined, WAIT, 'bob refused')
    expect(bob.state.error).toMatchObject({ code: 'too_many_subscriptions' })
    expect(bob.state.me).toBeUndefined()
    await until(() => bob.state.status === 'live', WAIT, 'bob watching')
    expect(clientIds(bob)).toEqual([me(alice)])
  })

  test('info past the server’s bound is refused with message_too_large', async () => {
    const { url } = await start({ maxInfoBytes: 16 })
    const alice = presence(client(url!, 'longpoll'), 'room', { enter: true, info: { bio: 'x'.repeat(40) } })
    await until(() => alice.state.error !== undefined, WAIT, 'the refusal')
    expect(alice.state.error).toMatchObject({ code: 'message_too_large' })
  })
})
