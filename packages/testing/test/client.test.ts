// The mock against the real @holdfast/client, over each transport.
import type { TransportName } from '@holdfast/client'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { createHoldfastMock } from '../src'
import { client, closeClients, collect, until } from './helpers'

const mock = createHoldfastMock({ url: 'http://rt.test', sseHeartbeatMs: 0 })
const server = setupServer(...mock.handlers)

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }))
afterEach(() => {
  closeClients()
  mock.reset()
})
afterAll(() => server.close())

/** Resolves once the mock holds an open connection of `transport` that receives `channel`. */
function subscribed(transport: TransportName, channel: string) {
  return until(() => {
    expect(
      mock.connections.some((c) => c.open && c.transport === transport && c.channels.includes(channel)),
    ).toBe(true)
  })
}

describe.each(['websocket', 'sse', 'longpoll'] as const)('over %s', (transport) => {
  test('messages published on the mock reach a subscriber, in order, with their cursors', async () => {
    const c = client({ transports: [transport] })
    const room = collect<{ n: number }>(c, 'room')
    await subscribed(transport, 'room')
    const first = mock.publish('room', { n: 1 })
    mock.publish('room', { n: 2 })
    await until(() => expect(room.data).toEqual([{ n: 1 }, { n: 2 }]))
    expect(room.messages[0]).toEqual({ channel: 'room', cursor: first.cursor, data: { n: 1 } })
    expect(c.state).toMatchObject({ status: 'connected', transport })
  })

  test('after a dropped connection the client resumes without loss or duplicates', async () => {
    const c = client({ transports: [transport] })
    const room = collect<number>(c, 'room')
    await subscribed(transport, 'room')
    mock.publish('room', 1)
    mock.publish('room', 2)
    await until(() => expect(room.data).toEqual([1, 2]))

    expect(mock.dropConnections()).toBeGreaterThan(0)
    // Published while the client is away: it must get them from the replay.
    mock.publish('room', 3)
    mock.publish('room', 4)
    await until(() => expect(room.data).toEqual([1, 2, 3, 4]))
    await subscribed(transport, 'room')
    mock.publish('room', 5)
    await until(() => expect(room.data).toEqual([1, 2, 3, 4, 5]))
    expect(mock.connections.filter((conn) => conn.transport === transport).length).toBeGreaterThan(1)
  })

  test('drain tells the client to come back; after endDrain it does, and resumes without loss', async () => {
    const c = client({ transports: [transport] })
    const room = collect<number>(c, 'room')
    await subscribed(transport, 'room')
    mock.publish('room', 1)
    await until(() => expect(room.data).toEqual([1]))
    const before = mock.connections.length
    expect(mock.drain({ retryAfterMs: 20 })).toBeGreaterThan(0)
    await until(() => expect(c.state.status).not.toBe('connected'))
    mock.publish('room', 2)
    mock.endDrain()
    await until(() => expect(room.data).toEqual([1, 2]))
    await subscribed(transport, 'room')
    expect(mock.connections.length).toBeGreaterThan(before)
    mock.publish('room', 3)
    await until(() => expect(room.data).toEqual([1, 2, 3]))
  })

  test('a channel added later is delivered too, and an unsubscribed one no longer is', async () => {
    const c = client({ transports: [transport] })
    const a = collect(c, 'a')
    await subscribed(transport, 'a')
    // HTTP transports reopen with the new channel set: the old stream or poll must end on the mock.
    const b = collect(c, 'b')
    await subscribed(transport, 'b')
    a.sub.unsubscribe()
    await until(() =>
      expect(mock.connections.some((conn) => conn.open && conn.channels.includes('a'))).toBe(false),
    )
    mock.publish('a', 'lost')
    mock.publish('b', 'kept')
    await until(() => expect(b.data).toEqual(['kept']))
    expect(a.data).toEqual([])
  })

  test('a client publish is stored, acknowledged and delivered to subscribers', async () => {
    const c = client({ transports: [transport] })
    const room = collect(c, 'room')
    await subscribed(transport, 'room')
    const result = await c.publish('room', { text: 'hi' })
    expect(result).toEqual({ cursor: 'mock:1', duplicate: false })
    await until(() => expect(room.data).toEqual([{ text: 'hi' }]))
    expect(mock.published).toEqual([
      expect.objectContaining({
        channel: 'room',
        data: { text: 'hi' },
        cursor: 'mock:1',
        duplicate: false,
        via: transport === 'websocket' ? 'websocket' : 'http',
      }),
    ])
  })

  test('expireToken makes the client fetch a fresh token and carry on with it', async () => {
    let n = 0
    const getToken = vi.fn(() => `token-${++n}`)
    const c = client({ transports: [transport], getToken })
    const room = collect(c, 'room')
    await subscribed(transport, 'room')
    expect(mock.connections.at(-1)?.token).toBe('token-1')

    mock.expireToken()
    await until(() => {
      expect(getToken).toHaveBeenCalledTimes(2)
      expect(mock.connections.some((conn) => conn.open && conn.token === 'token-2')).toBe(true)
    })
    if (transport === 'websocket') {
      // Swapped in place with an `auth` frame: still the first socket.
      expect(mock.connections.filter((conn) => conn.transport === 'websocket')).toHaveLength(1)
      expect(mock.connections[0]?.frames).toContainEqual({
        type: 'auth',
        id: expect.any(Number),
        token: 'token-2',
      })
    }
    await subscribed(transport, 'room')
    mock.publish('room', 'after refresh')
    await until(() => expect(room.data).toEqual(['after refresh']))
  })
})

describe('fallback', () => {
  test("refuse('websocket') moves a client with transports ['websocket', 'sse'] onto SSE", async () => {
    mock.refuse('websocket')
    const c = client({ transports: ['websocket', 'sse'] })
    const room = collect(c, 'room')
    await until(() => expect(c.state).toMatchObject({ status: 'connected', transport: 'sse' }))
    await subscribed('sse', 'room')
    mock.publish('room', 'via sse')
    await until(() => expect(room.data).toEqual(['via sse']))
    const sockets = mock.connections.filter((conn) => conn.transport === 'websocket')
    expect(sockets.length).toBeGreaterThan(0)
    // Refused before the welcome: no socket ever got as far as a frame the mock answered.
    expect(sockets.every((s) => !s.open && s.frames.length === 0)).toBe(true)
  })

  test("refuse('sse') and refuse('longpoll') answer 404, so a client falls through to long polling or back", async () => {
    mock.refuse('sse')
    const c = client({ transports: ['sse', 'longpoll'] })
    const room = collect(c, 'room')
    await subscribed('longpoll', 'room')
    mock.publish('room', 'via longpoll')
    await until(() => expect(room.data).toEqual(['via longpoll']))
    expect(c.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  })
})

describe('history', () => {
  test('loseHistory makes the next resume report a gap, then delivery goes on', async () => {
    const c = client({ transports: ['websocket'] })
    const onGap = vi.fn()
    const room = collect(c, 'room', onGap)
    await subscribed('websocket', 'room')
    mock.publish('room', 1)
    await until(() => expect(room.data).toEqual([1]))
    mock.dropConnections()
    mock.loseHistory('room')
    mock.publish('room', 'new epoch')
    await until(() => expect(room.data).toEqual([1, 'new epoch']))
    expect(onGap).toHaveBeenCalledWith(
      expect.objectContaining({ channel: 'room', since: 'mock:1', epoch: 'mock-2', cursor: 'mock-2:1' }),
    )
  })
})

describe('forbid', () => {
  test('a forbidden channel is refused with a forbidden error the subscriber sees', async () => {
    mock.forbid('secret')
    const c = client({ transports: ['websocket'] })
    const onError = vi.fn()
    c.subscribe('secret', () => {}, { onError })
    await until(() => expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'forbidden' })))
  })

  test.each(['sse', 'longpoll'] as const)(
    '%s: only the forbidden channel is refused; the others keep flowing, as on WebSocket',
    async (transport) => {
      mock.forbid('secret')
      const c = client({ transports: [transport] })
      const onError = vi.fn()
      const got: unknown[] = []
      c.subscribe('secret', () => {}, { onError })
      c.subscribe('room', (m) => void got.push(m.data))
      await until(() => expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'forbidden' })))
      await until(() => expect(c.state.status).toBe('connected'))
      await c.publish('room', 1)
      await until(() => expect(got).toEqual([1]))
    },
  )
})
