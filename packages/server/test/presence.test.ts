import { spawn } from 'node:child_process'
import { parseCursor } from '@holdfast/protocol'
import { SNAPSHOT_DONE_MINOR } from '@holdfast/protocol/presence'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { ServerOptions } from '../src/index'
import {
  connect,
  eventually,
  type Frame,
  openSse,
  SECRET,
  signToken,
  startServer,
  type TestSocket,
  wsUrl,
} from './helpers/fixtures'
import { ManualClock } from './helpers/manualClock'

// Presence (PROTOCOL.md §8) over the three transports, on the reference server with its memory broker.
// Grace and liveness run on a manual clock: a test moves time past a deadline instead of waiting for it,
// and proves that nothing happened before it by sending a later event down the same connection.

const GRACE = 1000
const SWEEP = 100
const TTL = 3000

function presenceOptions(clock: ManualClock, extra: ServerOptions = {}): ServerOptions {
  return {
    clock,
    // Protocol pings would cut sockets when a test moves time by more than a ping round.
    limits: { pingIntervalMs: 1e9 },
    ...extra,
    presence: { graceMs: GRACE, ttlMs: TTL, sseTtlMs: 5000, sweepIntervalMs: SWEEP, ...extra.presence },
  }
}

type Server = Awaited<ReturnType<typeof startServer>>

/** Lets `ms` pass on the manual clock a sweep interval at a time, the event loop running in between. */
async function pass(clock: ManualClock, ms: number): Promise<void> {
  for (let done = 0; done < ms; done += SWEEP) {
    clock.advance(Math.min(SWEEP, ms - done))
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** Waits until the server has seen one connection fewer than `before`. */
const closedOne = (server: Server, before: number) =>
  eventually(() => expect(server.connectionCount).toBe(before - 1))
let ids = 0
const connectionId = () => `conn${String(++ids).padStart(6, '0')}`

async function subscribe(socket: TestSocket, channel: string, since?: string): Promise<Frame> {
  const id = ++ids
  socket.send({ type: 'subscribe', id, channel, ...(since === undefined ? {} : { since }) })
  return socket.next((f) => f.id === id && (f.type === 'subscribed' || f.type === 'error'))
}

async function watcher(server: Server, channel: string, token?: string) {
  const socket = await connect(server, token)
  const subscribed = await subscribe(socket, `${channel}~presence`)
  expect(subscribed.type).toBe('subscribed')
  return socket
}

async function member(server: Server, channel: string, id = connectionId(), token?: string) {
  const socket = await connect(server, token)
  const subscribed = await subscribe(socket, `${channel}~presence~${id}`)
  expect(subscribed, JSON.stringify(subscribed)).toMatchObject({ type: 'subscribed', recovered: true })
  return { socket, id }
}

/** The next presence event on `socket` for `channel` that matches. */
async function event(socket: TestSocket, channel: string, match: (data: any) => boolean = () => true) {
  const frame = await socket.next(
    (f) => f.type === 'message' && f.channel === `${channel}~presence` && match(f.data),
  )
  return frame.data
}

const events = (socket: TestSocket, channel: string) =>
  socket.messages(`${channel}~presence`).map((m) => m.data as any)

/** Every event received so far was sent before `sentinel` joined: proves nothing else is on its way. */
async function flush(server: Server, socket: TestSocket, channel: string) {
  const sentinel = await member(server, channel)
  await event(socket, channel, (d) => d.event === 'join' && d.member.connectionId === sentinel.id)
  sentinel.socket.send({ type: 'unsubscribe', id: 0, channel: `${channel}~presence~${sentinel.id}` })
  await event(socket, channel, (d) => d.event === 'leave' && d.member.connectionId === sentinel.id)
}

const memberEvents = (socket: TestSocket, channel: string, id: string) =>
  events(socket, channel)
    .filter((d) => d.member?.connectionId === id)
    .map((d) => (d.event === 'leave' ? `leave:${d.reason}` : d.event))

describe('presence over WebSocket', () => {
  it('a watcher gets a snapshot first, then the join, update and leave of a member; a new watcher sees it listed', async () => {
    const server = await startServer(presenceOptions(new ManualClock()))
    const watch = await watcher(server, 'room')
    expect(await event(watch, 'room')).toEqual({
      event: 'snapshot',
      members: [],
      count: 0,
      clients: 0,
      more: false,
    })
    const alice = await member(server, 'room')
    expect(await event(watch, 'room')).toEqual({
      event: 'join',
      member: { clientId: alice.id, connectionId: alice.id },
      count: 1,
      clients: 1,
    })
    alice.socket.send({
      type: 'publish',
      id: 7,
      channel: `room~presence~${alice.id}`,
      data: { info: { n: 'A' } },
    })
    expect(await alice.socket.next((f) => f.id === 7)).toMatchObject({ type: 'ack', cursor: 'presence:0' })
    expect(await event(watch, 'room')).toMatchObject({ event: 'update', member: { info: { n: 'A' } } })

    const late = await watcher(server, 'room')
    expect(await event(late, 'room')).toEqual({
      event: 'snapshot',
      members: [{ clientId: alice.id, connectionId: alice.id, info: { n: 'A' } }],
      count: 1,
      clients: 1,
      more: false,
    })
    // Unsubscribing is leaving now, not after the grace.
    alice.socket.send({ type: 'unsubscribe', id: 8, channel: `room~presence~${alice.id}` })
    for (const w of [watch, late])
      expect(await event(w, 'room', (d) => d.event === 'leave')).toMatchObject({ reason: 'left', count: 0 })
  })

  it('the subscription starts at <head>-1, pages follow, and resuming from the last page replays only later events', async () => {
    const server = await startServer(presenceOptions(new ManualClock()))
    await member(server, 'room')
    const watch = await connect(server)
    const subscribed = await subscribe(watch, 'room~presence')
    const snapshot = watch.messages('room~presence')
    await eventually(() => expect(watch.messages('room~presence')).toHaveLength(1))
    const start = parseCursor(subscribed.cursor)!
    const last = parseCursor(watch.messages('room~presence')[0]!.cursor)!
    expect(start.minor).toBe(1)
    expect(last).toEqual({ epoch: start.epoch, major: start.major, minor: SNAPSHOT_DONE_MINOR })
    expect(snapshot).toBeDefined()
    watch.ws.terminate()

    const bob = await member(server, 'room')
    const again = await connect(server)
    const resumed = await subscribe(again, 'room~presence', watch.messages('room~presence')[0]!.cursor)
    expect(resumed).toMatchObject({ type: 'subscribed', recovered: true })
    // Bob's join, replayed from the log: no snapshot.
    expect(await event(again, 'room')).toMatchObject({ event: 'join', member: { connectionId: bob.id } })
    await flush(server, again, 'room')
    expect(events(again, 'room').filter((d) => d.event === 'snapshot')).toEqual([])
  })

  it('a reconnect within the grace (same connection id) emits no leave and no join; past the grace, one leave', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    const alice = await member(server, 'room')
    await event(watch, 'room', (d) => d.event === 'join')
    let before = server.connectionCount
    alice.socket.ws.terminate()
    await closedOne(server, before)
    await pass(clock, GRACE - SWEEP)
    const back = await member(server, 'room', alice.id)
    await pass(clock, 10 * GRACE)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', alice.id)).toEqual(['join'])

    before = server.connectionCount
    back.socket.ws.terminate()
    await closedOne(server, before)
    await pass(clock, GRACE - SWEEP)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', alice.id)).toEqual(['join'])
    await pass(clock, 2 * SWEEP)
    await event(watch, 'room', (d) => d.event === 'leave' && d.member.connectionId === alice.id)
    await pass(clock, 10 * GRACE)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', alice.id)).toEqual(['join', 'leave:expired'])
  })

  it('a member stays while its WebSocket is connected, however long: its server refreshes it', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    const alice = await member(server, 'room')
    for (let i = 0; i < 10; i++) await pass(clock, TTL / 3)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', alice.id)).toEqual(['join'])
  })

  it('a client process killed with SIGKILL leaves after the grace, not before (its kernel closes the socket)', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    const id = connectionId()
    const script = `
      const ws = new (require('ws'))(process.argv[1], ['holdfast.v1'])
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connect' })))
      ws.on('message', (data) => {
        const frame = JSON.parse(data)
        if (frame.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'room~presence~${id}' }))
        if (frame.type === 'subscribed') console.log('entered')
      })`
    const child = spawn(process.execPath, ['-e', script, wsUrl(server)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    onTestFinished(() => {
      child.kill('SIGKILL')
    })
    await event(watch, 'room', (d) => d.event === 'join' && d.member.connectionId === id)
    const before = server.connectionCount
    child.kill('SIGKILL')
    await closedOne(server, before)
    await pass(clock, GRACE - SWEEP)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', id)).toEqual(['join'])
    await pass(clock, 2 * SWEEP)
    expect(
      await event(watch, 'room', (d) => d.member?.connectionId === id && d.event === 'leave'),
    ).toMatchObject({
      reason: 'expired',
      count: 0,
    })
  })
})

describe('presence over SSE', () => {
  it('the stream starts with subscribed and the snapshot; a stream that enters is a member while open, then leaves after the grace', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    await event(watch, 'room')
    const id = connectionId()
    const stream = await openSse(server, `channel=room~presence&channel=room~presence~${id}`)
    await stream.until((r) => r.messages().length >= 1)
    expect(
      stream.events.filter((e) => e.event === 'subscribed').map((e) => JSON.parse(e.data).channel),
    ).toEqual(['room~presence', `room~presence~${id}`])
    const first = stream.messages()[0]!
    expect(first.data).toMatchObject({ event: 'snapshot', more: false })
    expect(first.id).toContain(`room~presence=${first.cursor}`)
    expect(await event(watch, 'room', (d) => d.event === 'join')).toMatchObject({
      member: { connectionId: id },
    })

    const before = server.connectionCount
    await stream.cancel()
    await closedOne(server, before)
    await pass(clock, GRACE - SWEEP)
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', id)).toEqual(['join'])
    await pass(clock, 2 * SWEEP)
    expect(
      await event(watch, 'room', (d) => d.event === 'leave' && d.member.connectionId === id),
    ).toMatchObject({
      reason: 'expired',
    })
  })

  it('an SSE member is kept by its touches, and leaves sseTtlMs after the last one (a client that vanished)', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    const id = connectionId()
    await openSse(server, `channel=room~presence~${id}`)
    await event(watch, 'room', (d) => d.event === 'join')
    const touch = () =>
      fetch(`${server.url}/publish`, {
        method: 'POST',
        body: JSON.stringify({ channel: `room~presence~${id}`, data: { touch: true } }),
      })
    for (let i = 0; i < 4; i++) {
      await pass(clock, 4000)
      expect(await (await touch()).json()).toEqual({ cursor: 'presence:0', duplicate: false })
    }
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', id)).toEqual(['join'])
    // The stream stays open (a lost network looks like this to the server); the touches stop.
    await pass(clock, 5000 + SWEEP)
    expect(await event(watch, 'room', (d) => d.event === 'leave')).toMatchObject({ reason: 'expired' })
  })
})

describe('presence over SSE with sseTtlMs shorter than ttlMs', () => {
  it('a vanished SSE member leaves sseTtlMs after it entered, not at the next WebSocket refresh round', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock, { presence: { ttlMs: 30_000, sseTtlMs: 2000 } }))
    const watch = await watcher(server, 'room')
    const id = connectionId()
    await openSse(server, `channel=room~presence~${id}`)
    await event(watch, 'room', (d) => d.event === 'join')
    // No touch ever comes: the stream looks open to the server, the client is gone.
    await pass(clock, 2000 + 2 * SWEEP)
    expect(await event(watch, 'room', (d) => d.event === 'leave')).toMatchObject({ reason: 'expired' })
  })
})

describe('presence over long polling', () => {
  const poll = async (server: Server, channels: string[], since?: string) => {
    const query = channels.map((c) => `channel=${encodeURIComponent(c)}`).join('&')
    const response = await fetch(
      `${server.url}/poll?${query}&timeoutMs=0${since ? `&since=${encodeURIComponent(since)}` : ''}`,
    )
    return { status: response.status, body: (await response.json()) as any }
  }

  it('the first poll answers the snapshot at once; a client that polls is a member between polls, and leaves when it stops', async () => {
    const clock = new ManualClock()
    const server = await startServer(presenceOptions(clock))
    const watch = await watcher(server, 'room')
    const id = connectionId()
    const channels = ['room~presence', `room~presence~${id}`]
    let answer = await poll(server, channels)
    expect(answer.status).toBe(200)
    expect(answer.body.subscribed.map((s: any) => s.channel)).toEqual(channels)
    expect(answer.body.messages.map((m: any) => m.data.event)).toEqual(['snapshot'])
    await event(watch, 'room', (d) => d.event === 'join' && d.member.connectionId === id)
    // Polls a little less than the grace apart: present all along.
    for (let i = 0; i < 5; i++) {
      await pass(clock, GRACE - 2 * SWEEP)
      answer = await poll(server, channels, answer.body.since)
      expect(answer.status).toBe(200)
    }
    await flush(server, watch, 'room')
    expect(memberEvents(watch, 'room', id)).toEqual(['join'])
    // The poll that ends the session: the join and leave of the sentinel come with it, not a snapshot.
    expect(answer.body.messages).toEqual([])
    await pass(clock, GRACE + SWEEP)
    expect(
      await event(watch, 'room', (d) => d.event === 'leave' && d.member.connectionId === id),
    ).toMatchObject({
      reason: 'expired',
    })
    const next = await poll(server, ['room~presence'], answer.body.since)
    expect(
      next.body.messages.map((m: any) => `${m.data.event}:${m.data.member.connectionId === id}`),
    ).toContain('leave:true')
    expect(next.body.messages.some((m: any) => m.data.event === 'snapshot')).toBe(false)
  })
})

describe('presence authorization', () => {
  it("asks authorize(user, channel, 'presence') for watching and entering, never the ~presence names", async () => {
    const asked: string[] = []
    const server = await startServer({
      auth: { secret: SECRET },
      authorize: (_user, channel, action) => {
        asked.push(`${action}:${channel}`)
        return action !== 'presence' || channel === 'open'
      },
    })
    const token = await signToken({ sub: 'alice' })
    const socket = await connect(server, token)
    expect(await subscribe(socket, 'open~presence')).toMatchObject({ type: 'subscribed' })
    expect(await subscribe(socket, 'closed~presence')).toMatchObject({
      type: 'error',
      code: 'forbidden',
      channel: 'closed~presence',
    })
    expect(await subscribe(socket, 'closed~presence~abcdefgh')).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    expect(asked).toEqual(['presence:open', 'presence:closed', 'presence:closed'])
    const sse = await fetch(`${server.url}/sse?channel=closed~presence`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(sse.status).toBe(403)
    expect((await sse.json()).error.code).toBe('forbidden')
    const poll = await fetch(`${server.url}/poll?channel=closed~presence~abcdefgh`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(poll.status).toBe(403)
  })

  it('a channels claim grants presence by its action (an array grants it too); nobody publishes to a watch channel', async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const subscribeOnly = await signToken({ sub: 'a', channels: { 'chat.*': ['subscribe'] } })
    const withPresence = await signToken({ sub: 'b', channels: { 'chat.*': ['presence'] } })
    const everything = await signToken({ sub: 'c', channels: ['chat.*'] })
    const s1 = await connect(server, subscribeOnly)
    expect(await subscribe(s1, 'chat.1~presence')).toMatchObject({ type: 'error', code: 'forbidden' })
    // The pattern matches the name, but the claim is asked about the channel: subscribe does not grant it.
    expect(await subscribe(s1, 'chat.1~presence~abcdefgh')).toMatchObject({
      type: 'error',
      code: 'forbidden',
    })
    const s2 = await connect(server, withPresence)
    expect(await subscribe(s2, 'chat.1~presence')).toMatchObject({ type: 'subscribed' })
    expect(await subscribe(s2, 'chat.1~presence~abcdefgh')).toMatchObject({ type: 'subscribed' })
    const s3 = await connect(server, everything)
    expect(await subscribe(s3, 'chat.1~presence')).toMatchObject({ type: 'subscribed' })
    s3.send({ type: 'publish', id: 50, channel: 'chat.1~presence', data: { event: 'join' } })
    expect(await s3.next((f) => f.id === 50)).toMatchObject({ type: 'error', code: 'forbidden' })
    const http = await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${everything}` },
      body: JSON.stringify({ channel: 'chat.1~presence', data: {} }),
    })
    expect(http.status).toBe(403)
    await expect(server.publish('chat.1~presence', {})).rejects.toMatchObject({ code: 'forbidden' })
  })
})

describe('presence limits and bad input', () => {
  it('a full channel refuses an enter with too_many_subscriptions on the enter channel, once, on every transport', async () => {
    const server = await startServer(presenceOptions(new ManualClock(), { presence: { maxMembers: 1 } }))
    await member(server, 'room')
    const refusedId = connectionId()
    const socket = await connect(server)
    const subscribed = await subscribe(socket, `room~presence~${refusedId}`)
    expect(subscribed).toMatchObject({ type: 'subscribed' })
    const refusal = await socket.next((f) => f.type === 'message')
    expect(refusal).toMatchObject({
      channel: `room~presence~${refusedId}`,
      data: { event: 'refused', code: 'too_many_subscriptions' },
    })
    expect(refusal.data.message).toContain('presence.maxMembers')
    // Resumed from the refusal: not told again (a poll would otherwise be answered at once, forever).
    const again = await subscribe(socket, `room~presence~${refusedId}`, refusal.cursor)
    expect(again).toMatchObject({ type: 'subscribed', cursor: refusal.cursor })

    const sse = await openSse(server, `channel=room~presence~${connectionId()}`)
    await sse.until((r) => r.messages().length === 1)
    expect(sse.messages()[0]!.data).toMatchObject({ event: 'refused', code: 'too_many_subscriptions' })
    const first = await (await fetch(`${server.url}/poll?channel=room~presence~abcdefgh&timeoutMs=0`)).json()
    expect(first.messages[0].data).toMatchObject({ event: 'refused', code: 'too_many_subscriptions' })
    const second = await (
      await fetch(
        `${server.url}/poll?channel=room~presence~abcdefgh&timeoutMs=0&since=${encodeURIComponent(first.since)}`,
      )
    ).json()
    expect(second.messages).toEqual([])
  })

  it('info past maxInfoBytes is message_too_large, from a publish or from the token; the server keeps going', async () => {
    const server = await startServer({ auth: { secret: SECRET }, presence: { maxInfoBytes: 32 } })
    const socket = await connect(server, await signToken({ sub: 'alice' }))
    socket.send({ type: 'publish', id: 1, channel: 'room~presence~abcdefgh', data: { info: 'x'.repeat(40) } })
    expect(await socket.next((f) => f.id === 1)).toMatchObject({
      type: 'error',
      code: 'message_too_large',
      channel: 'room~presence~abcdefgh',
    })
    const big = await connect(server, await signToken({ sub: 'bob', info: { bio: 'y'.repeat(40) } }))
    await subscribe(big, 'room~presence~abcdefgh')
    expect((await big.next((f) => f.type === 'message')).data).toMatchObject({
      event: 'refused',
      code: 'message_too_large',
    })
    const http = await fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await signToken({ sub: 'carol' })}` },
      body: JSON.stringify({ channel: 'room~presence~abcdefgh', data: { info: 'z'.repeat(40) } }),
    })
    expect(http.status).toBe(413)
    expect((await http.json()).error.code).toBe('message_too_large')
    expect(await subscribe(socket, 'room~presence')).toMatchObject({ type: 'subscribed' })
  })

  it('malformed presence names are invalid_channel and bad publishes bad_request, on every path', async () => {
    const server = await startServer()
    const socket = await connect(server)
    for (const channel of ['room~presence~short', '~presence', 'room~presence~bad.id.123'])
      expect(await subscribe(socket, channel)).toMatchObject({
        type: 'error',
        code: 'invalid_channel',
        channel,
      })
    for (const data of [{}, { info: 1, touch: true }, { touch: 1 }, { leave: 'yes' }, 'info', [1]]) {
      socket.send({ type: 'publish', id: 9, channel: 'room~presence~abcdefgh', data })
      expect(await socket.next((f) => f.id === 9), JSON.stringify(data)).toMatchObject({
        type: 'error',
        code: 'bad_request',
      })
    }
    expect((await fetch(`${server.url}/sse?channel=a~presence~x`)).status).toBe(400)
    expect((await fetch(`${server.url}/poll?channel=~presence`)).status).toBe(400)
    const http = await fetch(`${server.url}/publish`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'room~presence~abcdefgh', data: { nope: true } }),
    })
    expect(http.status).toBe(400)
    expect(await subscribe(socket, 'room~presence')).toMatchObject({ type: 'subscribed' })
  })

  it('a large snapshot comes in pages of at most 64 KiB, capped at snapshotLimit, with the full count', async () => {
    const server = await startServer({ presence: { snapshotLimit: 150, maxInfoBytes: 1024 } })
    const members = await Promise.all(
      Array.from({ length: 160 }, async () => {
        const m = await member(server, 'big')
        m.socket.send({
          type: 'publish',
          id: 3,
          channel: `big~presence~${m.id}`,
          data: { info: { pad: 'p'.repeat(900) } },
        })
        await m.socket.next((f) => f.id === 3)
        return m
      }),
    )
    const watch = await watcher(server, 'big')
    await eventually(() => expect(events(watch, 'big').at(-1)?.more).toBe(false))
    const pages = watch.messages('big~presence')
    expect(pages.length).toBeGreaterThan(1)
    for (const page of pages) {
      expect(page.data).toMatchObject({ event: 'snapshot', count: 160, clients: 160 })
      expect(JSON.stringify(page.data.members).length).toBeLessThan(64 * 1024 + 1100)
    }
    expect(pages.map((p) => p.data.more)).toEqual([...pages.slice(1).map(() => true), false])
    expect(pages.flatMap((p) => p.data.members)).toHaveLength(150)
    const cursors = pages.map((p) => parseCursor(p.cursor)!.minor)
    expect(cursors.at(-1)).toBe(SNAPSHOT_DONE_MINOR)
    expect(cursors.slice(0, -1)).toEqual(cursors.slice(0, -1).map((_, i) => i + 2))
    expect(members).toHaveLength(160)
  })
})

describe('presence identity and info', () => {
  it("the client id is the token's sub, its info claim the member's info; a client cannot declare another", async () => {
    const server = await startServer({ auth: { secret: SECRET } })
    const watch = await watcher(server, 'room', await signToken({ sub: 'w' }))
    const alice = await connect(server, await signToken({ sub: 'alice', info: { name: 'Alice' } }))
    await subscribe(alice, 'room~presence~abcdefgh')
    await subscribe(alice, 'room~presence~ijklmnop')
    expect(await event(watch, 'room', (d) => d.event === 'join')).toEqual({
      event: 'join',
      member: { clientId: 'alice', connectionId: 'abcdefgh', info: { name: 'Alice' } },
      count: 1,
      clients: 1,
    })
    expect(await event(watch, 'room', (d) => d.event === 'join' && d.count === 2)).toMatchObject({
      clients: 1,
    })
    alice.send({ type: 'publish', id: 4, channel: 'room~presence~abcdefgh', data: { info: { name: 'Eve' } } })
    expect(await alice.next((f) => f.id === 4)).toMatchObject({ type: 'error', code: 'forbidden' })
  })

  it('info a client declares before it enters comes with its join', async () => {
    const server = await startServer()
    const watch = await watcher(server, 'room')
    const socket = await connect(server)
    socket.send({
      type: 'publish',
      id: 1,
      channel: 'room~presence~abcdefgh',
      data: { info: { name: 'Bob' } },
    })
    await socket.next((f) => f.id === 1)
    await subscribe(socket, 'room~presence~abcdefgh')
    expect(await event(watch, 'room', (d) => d.event === 'join')).toMatchObject({
      member: { clientId: 'abcdefgh', info: { name: 'Bob' } },
    })
  })
})
