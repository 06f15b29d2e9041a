import type { ClientFrame } from '@holdfast/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient, HoldfastError } from '../../src'
import { presence } from '../../src/presence'
import { BASE_URL, createFakeServer } from '../helpers/fakeServer'

// The presence entry against a scripted WebSocket server: what it asks for on the wire, and what it makes
// of the events it gets (PROTOCOL.md §8). Fake timers: nothing here waits on real time.

let fake = createFakeServer()
let clients: HoldfastClient[] = []
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)

beforeEach(() => {
  vi.useFakeTimers()
  fake = createFakeServer()
  fake.server.listen({ onUnhandledRequest: 'error' })
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  fake.server.close()
  vi.useRealTimers()
})

function client(): HoldfastClient {
  const c = createClient({ url: BASE_URL, transports: ['websocket'], onOnline: false, lazy: false })
  clients.push(c)
  return c
}

const frames = <T extends ClientFrame['type']>(type: T) =>
  fake.last.frames.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type)
const m = (clientId: string, connectionId: string, info?: unknown) => ({
  clientId,
  connectionId,
  ...(info === undefined ? {} : { info }),
})
let offset = 10
/** A presence message on `room~presence` at the next log position (or a snapshot page cursor). */
function send(data: unknown, cursor = `e1:${++offset}`) {
  fake.last.send({ type: 'message', channel: 'room~presence', cursor, data })
}

describe('presence(): watching', () => {
  test('handles of one client and channel share one subscription; the last close unsubscribes a microtask later', async () => {
    const c = client()
    const a = presence(c, 'room')
    const b = presence(c, 'room')
    await tick(10)
    expect(frames('subscribe').map((f) => f.channel)).toEqual(['room~presence'])
    // StrictMode: unmount then mount again in one go keeps the subscription.
    a.close()
    b.close()
    const again = presence(c, 'room')
    await tick(10)
    expect(frames('unsubscribe')).toEqual([])
    again.close()
    await tick(10)
    expect(frames('unsubscribe').map((f) => f.channel)).toEqual(['room~presence'])
  })

  test('snapshot pages make one state, grouped by client; join, update and leave are per client', async () => {
    const c = client()
    const room = presence<{ name: string }>(c, 'room')
    const seen: string[] = []
    room.on('join', (u) => seen.push(`join ${u.clientId} x${u.connections.length}`))
    room.on('update', (u) => seen.push(`update ${u.clientId} x${u.connections.length}`))
    room.on('leave', (u) => seen.push(`leave ${u.clientId}`))
    await tick(10)
    expect(room.state.status).toBe('syncing')
    send(
      {
        event: 'snapshot',
        members: [m('alice', 'conn0001', { name: 'A' })],
        count: 3,
        clients: 2,
        more: true,
      },
      'e1:5-2',
    )
    await tick(1)
    expect(room.state).toMatchObject({ status: 'syncing', members: [] })
    send(
      {
        event: 'snapshot',
        members: [m('alice', 'conn0002'), m('bob', 'conn0003')],
        count: 3,
        clients: 2,
        more: false,
      },
      'e1:5-999999',
    )
    await tick(1)
    expect(room.state).toMatchObject({ status: 'live', count: 3, clients: 2 })
    expect(
      room.state.members.map((u) => [u.clientId, u.connections.map((x) => x.connectionId), u.info]),
    ).toEqual([
      ['alice', ['conn0001', 'conn0002'], { name: 'A' }],
      ['bob', ['conn0003'], undefined],
    ])
    expect(seen).toEqual(['join alice x2', 'join bob x1'])
    // Alice's third tab: an update of alice, not a join.
    send({ event: 'join', member: m('alice', 'conn0004'), count: 4, clients: 2 })
    send({ event: 'leave', member: m('bob', 'conn0003'), count: 3, clients: 1, reason: 'left' })
    send({ event: 'leave', member: m('alice', 'conn0001'), count: 2, clients: 1, reason: 'expired' })
    await tick(1)
    expect(seen.slice(2)).toEqual(['update alice x3', 'leave bob', 'update alice x2'])
    expect(room.state).toMatchObject({ count: 2, clients: 1 })
  })

  test('another user entering with our connection id is a member of its own: it never hides or replaces ours', async () => {
    const c = client()
    const room = presence(c, 'room')
    const seen: string[] = []
    for (const e of ['join', 'leave', 'update'] as const) room.on(e, (u) => seen.push(`${e} ${u.clientId}`))
    await tick(10)
    send(
      { event: 'snapshot', members: [m('alice', 'conn0001')], count: 1, clients: 1, more: false },
      'e1:5-999999',
    )
    // Eve read alice's connection id from the snapshot and entered with it (the server keys members by both ids).
    send({ event: 'join', member: m('eve', 'conn0001'), count: 2, clients: 2 })
    send({ event: 'leave', member: m('eve', 'conn0001'), count: 1, clients: 1, reason: 'left' })
    await tick(1)
    expect(seen).toEqual(['join alice', 'join eve', 'leave eve'])
    expect(room.state.members.map((u) => u.clientId)).toEqual(['alice'])
    expect(room.state).toMatchObject({ count: 1, clients: 1 })
  })

  test('a snapshot after a reconnect emits only what changed', async () => {
    const c = client()
    const room = presence(c, 'room')
    const seen: string[] = []
    for (const e of ['join', 'leave', 'update'] as const) room.on(e, (u) => seen.push(`${e} ${u.clientId}`))
    await tick(10)
    send(
      {
        event: 'snapshot',
        members: [m('alice', 'conn0001'), m('bob', 'conn0002')],
        count: 2,
        clients: 2,
        more: false,
      },
      'e1:5-999999',
    )
    await tick(1)
    fake.last.close(1006)
    await tick(2000)
    expect(c.state.status).toBe('connected')
    // The server lost the log (a new epoch): a fresh snapshot. Alice stayed, bob went, carol came.
    send(
      {
        event: 'snapshot',
        members: [m('alice', 'conn0001'), m('carol', 'conn0003')],
        count: 2,
        clients: 2,
        more: false,
      },
      'e2:1-999999',
    )
    await tick(1)
    expect(seen).toEqual(['join alice', 'join bob', 'join carol', 'leave bob'])
  })

  test('an invalid presence event is reported and changes nothing', async () => {
    const c = client()
    const room = presence(c, 'room')
    const errors: HoldfastError[] = []
    room.on('error', (e) => errors.push(e))
    await tick(10)
    send({ event: 'join', member: { clientId: 'x' }, count: 1, clients: 1 })
    await tick(1)
    expect(errors.map((e) => e.code)).toEqual(['bad_frame'])
    expect(room.state.members).toEqual([])
  })

  test('names that cannot carry presence throw invalid_channel', () => {
    const c = client()
    for (const bad of ['room~presence', 'a,b', '', 'x'.repeat(180)])
      expect(() => presence(c, bad)).toThrow(expect.objectContaining({ code: 'invalid_channel' }))
  })

  test('a refused watch is state, with the error', async () => {
    fake.server.close()
    fake = createFakeServer({
      autoSubscribe: false,
      onFrame: (f, conn) => {
        if (f.type === 'subscribe')
          conn.send({ type: 'error', id: f.id, channel: f.channel, code: 'forbidden', message: 'no' })
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    const c = client()
    const room = presence(c, 'room')
    await tick(10)
    expect(room.state.status).toBe('error')
    expect(room.state.error).toBeInstanceOf(HoldfastError)
    expect(room.state.error?.code).toBe('forbidden')
  })
})

describe('presence(): entering', () => {
  test('info the server refuses (too large) is a refused enter: no member without it, one error', async () => {
    fake.server.close()
    fake = createFakeServer({
      onFrame: (f, conn) => {
        if (f.type === 'publish')
          conn.send({
            type: 'error',
            id: f.id,
            channel: f.channel,
            code: 'message_too_large',
            message: 'big',
          })
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    const c = client()
    const room = presence(c, 'room', { enter: true, info: { name: 'x'.repeat(2000) } })
    const errors: string[] = []
    room.on('error', (e) => errors.push(e.code))
    await tick(10)
    expect(frames('publish')).toHaveLength(1)
    expect(frames('subscribe').map((f) => f.channel)).toEqual(['room~presence'])
    send({ event: 'snapshot', members: [], count: 0, clients: 0, more: false }, 'e1:5-999999')
    await tick(10)
    expect(errors).toEqual(['message_too_large'])
    expect(room.state.error?.code).toBe('message_too_large')
    expect(frames('publish')).toHaveLength(1)
  })

  test('declares the info first, then enters on one connection id; leave unsubscribes; entering again takes a new id', async () => {
    fake.server.close()
    fake = createFakeServer({
      onFrame: (f, conn) => {
        if (f.type === 'publish') conn.send({ type: 'ack', id: f.id, cursor: 'presence:0' })
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    const c = client()
    const room = presence(c, 'room', { enter: true, info: { name: 'A' } })
    await tick(10)
    const publish = frames('publish')[0]!
    expect(publish.data).toEqual({ info: { name: 'A' } })
    const id = /^room~presence~([\w-]{16})$/.exec(publish.channel)![1]!
    expect(fake.last.frames.findIndex((f) => f.type === 'publish')).toBeLessThan(
      fake.last.frames.findIndex((f) => f.type === 'subscribe' && f.channel === publish.channel),
    )
    send(
      { event: 'snapshot', members: [m(id, id, { name: 'A' })], count: 1, clients: 1, more: false },
      'e1:5-999999',
    )
    await tick(1)
    expect(room.state.me).toEqual(m(id, id, { name: 'A' }))
    room.update({ name: 'B' })
    await tick(1)
    expect(frames('publish').at(-1)).toMatchObject({
      channel: publish.channel,
      data: { info: { name: 'B' } },
    })
    room.leave()
    await tick(1)
    expect(frames('unsubscribe').map((f) => f.channel)).toEqual([publish.channel])
    expect(room.state.me).toBeUndefined()
    room.enter()
    await tick(10)
    const second = frames('subscribe').at(-1)!.channel
    expect(second).toMatch(/^room~presence~[\w-]{16}$/)
    expect(second).not.toBe(publish.channel)
  })

  test('leave then enter again in one go (StrictMode) keeps the member: no unsubscribe, no new id', async () => {
    const c = client()
    const a = presence(c, 'room', { enter: true })
    await tick(10)
    const enters = () => frames('subscribe').filter((f) => f.channel.startsWith('room~presence~'))
    expect(enters()).toHaveLength(1)
    a.close()
    const b = presence(c, 'room', { enter: true })
    await tick(10)
    expect(enters()).toHaveLength(1)
    expect(frames('unsubscribe')).toEqual([])
    b.close()
    await tick(10)
    expect(
      frames('unsubscribe')
        .map((f) => f.channel)
        .sort(),
    ).toEqual([enters()[0]!.channel, 'room~presence'].sort())
  })

  test('a refusal on the enter channel is an error with its code, and entering stops', async () => {
    const c = client()
    const room = presence(c, 'room', { enter: true })
    const errors: string[] = []
    room.on('error', (e) => errors.push(e.code))
    await tick(10)
    const enter = frames('subscribe').find((f) => f.channel.startsWith('room~presence~'))!.channel
    fake.last.send({
      type: 'message',
      channel: enter,
      cursor: 'presence:1700000000000',
      data: { event: 'refused', code: 'too_many_subscriptions', message: 'room is full' },
    })
    await tick(1)
    expect(errors).toEqual(['too_many_subscriptions'])
    expect(room.state.error).toMatchObject({ code: 'too_many_subscriptions' })
    // Still watching; no longer asking to enter.
    expect(room.state.status).toBe('syncing')
    expect(frames('unsubscribe').map((f) => f.channel)).toEqual([enter])
  })

  test('its own member expired while it wants in: it subscribes again, same id, in one frame (no leave)', async () => {
    const c = client()
    presence(c, 'room', { enter: true })
    await tick(10)
    const enter = frames('subscribe').find((f) => f.channel.startsWith('room~presence~'))!.channel
    const id = enter.slice('room~presence~'.length)
    send({ event: 'join', member: m(id, id), count: 1, clients: 1 })
    send({ event: 'leave', member: m(id, id), count: 0, clients: 0, reason: 'expired' })
    await tick(10)
    expect(frames('subscribe').filter((f) => f.channel === enter)).toHaveLength(2)
    expect(frames('unsubscribe')).toEqual([])
  })

  test('its own member shows other info than it declared (the server forgot it): it declares again', async () => {
    fake.server.close()
    fake = createFakeServer({
      onFrame: (f, conn) => {
        if (f.type === 'publish') conn.send({ type: 'ack', id: f.id, cursor: 'presence:0' })
      },
    })
    fake.server.listen({ onUnhandledRequest: 'error' })
    const c = client()
    presence(c, 'room', { enter: true, info: 'A' })
    await tick(10)
    const enter = frames('subscribe').find((f) => f.channel.startsWith('room~presence~'))!.channel
    const id = enter.slice('room~presence~'.length)
    send({ event: 'join', member: m(id, id), count: 1, clients: 1 })
    await tick(10)
    expect(frames('publish').map((f) => f.data)).toEqual([{ info: 'A' }, { info: 'A' }])
  })
})
