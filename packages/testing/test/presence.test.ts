// Presence on the mock against the real `presence()` of @holdfast/client, over each transport.
import type { TransportName } from '@holdfast/client'
import { presence } from '@holdfast/client/presence'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { createHoldfastMock } from '../src'
import { client, closeClients, until } from './helpers'

const mock = createHoldfastMock({
  url: 'http://rt.test',
  sseHeartbeatMs: 0,
  presenceClientId: (token) => token?.replace(/^token-/, ''),
})
// No grace at all: a member whose connection went leaves at once.
const graceless = createHoldfastMock({ url: 'http://rt2.test', sseHeartbeatMs: 0, presenceGraceMs: 0 })
const server = setupServer(...mock.handlers, ...graceless.handlers)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  closeClients()
  mock.reset()
  graceless.reset()
})
afterAll(() => server.close())

type Info = { name: string }
const names = (room: { state: { members: readonly { clientId: string }[] } }) =>
  room.state.members.map((u) => u.clientId)
const events = (m: typeof mock, channel = 'room') =>
  m.history(`${channel}~presence`).map((s) => {
    const d = s.data as { event: string; member: { clientId: string }; reason?: string }
    return `${d.event}:${d.member.clientId}${d.reason ? `:${d.reason}` : ''}`
  })

describe.each(['websocket', 'sse', 'longpoll'] as const)('presence over %s', (transport: TransportName) => {
  test('a watcher gets the snapshot, then the members the mock joins, updates, lets leave or vanish', async () => {
    const bob = mock.presence('room').join({ clientId: 'bob', info: { name: 'Bob' } })
    const room = presence<Info>(client({ transports: [transport] }), 'room')
    const seen: string[] = []
    room.on('join', (u) => seen.push(`join:${u.clientId}`))
    room.on('leave', (u) => seen.push(`leave:${u.clientId}`))
    room.on('update', (u) => seen.push(`update:${u.clientId}:${u.info?.name}`))
    await until(() => expect(room.state).toMatchObject({ status: 'live', count: 1, clients: 1 }))
    expect(room.state.members).toEqual([{ clientId: 'bob', info: { name: 'Bob' }, connections: [bob] }])

    const carol = mock.presence('room').join({ clientId: 'carol', connectionId: 'carol-conn-1' })
    await until(() => expect(names(room)).toEqual(['bob', 'carol']))
    expect(mock.presence('room').update(bob.connectionId, { name: 'Robert' })).toBe(true)
    await until(() => expect(room.state.members[0]?.info).toEqual({ name: 'Robert' }))
    expect(mock.presence('room').leave(bob.connectionId)).toBe(true)
    expect(mock.presence('room').vanish(carol.connectionId)).toBe(true)
    await until(() => expect(room.state).toMatchObject({ members: [], count: 0, clients: 0 }))
    expect(seen).toEqual(['join:bob', 'join:carol', 'update:bob:Robert', 'leave:bob', 'leave:carol'])
    expect(events(mock)).toEqual([
      'join:bob',
      'join:carol',
      'update:bob',
      'leave:bob:left',
      'leave:carol:expired',
    ])
    expect(mock.presence('room').vanish(carol.connectionId)).toBe(false)
  })

  test("a client that enters with info is a member under its token's client id; leave() takes it out", async () => {
    const alice = presence<Info>(client({ transports: [transport], getToken: () => 'token-alice' }), 'room', {
      enter: true,
      info: { name: 'Alice' },
    })
    const watcher = presence<Info>(client({ transports: ['websocket'] }), 'room')
    await until(() => expect(mock.presence('room').members).toHaveLength(1))
    const [member] = mock.presence('room').members
    expect(member).toEqual({ clientId: 'alice', connectionId: member!.connectionId, info: { name: 'Alice' } })
    await until(() => expect(alice.state.me).toEqual(member))
    await until(() => expect(names(watcher)).toEqual(['alice']))
    // The join already carried the info declared before entering: no update followed.
    expect(events(mock)).toEqual(['join:alice'])

    alice.update({ name: 'Al' })
    await until(() => expect(watcher.state.members[0]?.info).toEqual({ name: 'Al' }))
    alice.leave()
    await until(() => expect(watcher.state.members).toEqual([]))
    expect(events(mock)).toEqual(['join:alice', 'update:alice', 'leave:alice:left'])
  })

  test('a dropped connection that comes back within the grace shows no leave and no join', async () => {
    const c = client({ transports: [transport] })
    const me = presence(c, 'room', { enter: true })
    await until(() => expect(me.state.me).toBeDefined())
    const connections = mock.connections.length
    expect(mock.dropConnections()).toBeGreaterThan(0)
    // Back: a new connection (a new poll, for long polling) receives the watch and holds the member.
    await until(() => {
      const open = mock.connections.slice(connections).filter((x) => x.open)
      expect(open.map((x) => [x.transport, [...x.channels].sort()])).toEqual([
        [transport, [`room~presence`, `room~presence~${me.state.me!.connectionId}`]],
      ])
    })
    expect(mock.presence('room').members).toHaveLength(1)
    expect(events(mock)).toEqual([`join:${me.state.me!.clientId}`])
  })

  test('a client whose connection vanishes for good leaves, as expired, once the grace ran out', async () => {
    const gone = presence(client({ url: 'http://rt2.test', transports: [transport] }), 'room', {
      enter: true,
    })
    await until(() => expect(gone.state.me).toBeDefined())
    const id = gone.state.me!.clientId
    // The transport goes away and stays away: nothing says goodbye.
    graceless.refuse(transport)
    await until(() => expect(graceless.presence('room').members).toEqual([]))
    expect(events(graceless).at(-1)).toBe(`leave:${id}:expired`)
  })
})

test('a refused or oversized enter gives the client a typed error, and the watch goes on', async () => {
  const full = createHoldfastMock({ url: 'http://rt3.test', presenceMaxMembers: 1, presenceMaxInfoBytes: 16 })
  server.use(...full.handlers)
  full.presence('room').join({ clientId: 'bob' })
  const c = client({ url: 'http://rt3.test', transports: ['websocket'] })
  const room = presence(c, 'room', { enter: true })
  await until(() => expect(room.state.error?.code).toBe('too_many_subscriptions'))
  expect(room.state).toMatchObject({ status: 'live', count: 1 })

  const big = presence(client({ url: 'http://rt3.test', transports: ['websocket'] }), 'lobby', {
    enter: true,
    info: { name: 'x'.repeat(40) },
  })
  await until(() => expect(big.state.error?.code).toBe('message_too_large'))
  server.resetHandlers()
})

test('a forbidden <channel>~presence refuses watching and entering', async () => {
  mock.forbid('room~presence')
  const room = presence(client({ transports: ['websocket'] }), 'room', { enter: true })
  await until(() => expect(room.state).toMatchObject({ status: 'error', error: { code: 'forbidden' } }))
  expect(mock.presence('room').members).toEqual([])
})
