// One connection for all tabs (@holdfast/client/tabs): the election, the messages between tabs, and hand-offs,
// with a fake browser (BroadcastChannel, Web Locks, tabs that freeze or crash) and a fake server, on fake time.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import type { Timers } from '../../src'
import { createSharedClient, type SharedClient, type SharedClientOptions } from '../../src/tabs'
import { Hub } from '../../src/tabs/Hub'
import type { LeaderMessage, LeaderPost, LeaderState } from '../../src/tabs/messages'
import type { TabLink } from '../../src/tabs/TabLink'
import { tabTransport } from '../../src/tabs/tabTransport'
import type { Transport, TransportHost } from '../../src/transports/Transport'
import { createFakeRealtime, type FakeRealtime } from '../helpers/fakeRealtime'
import { createFakeBrowser, type FakeTab } from '../helpers/fakeTabs'
import { fakeJwt } from '../helpers/jwt'
import { seededRandom } from '../helpers/seededRandom'

let clients: SharedClient[] = []
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  vi.useRealTimers()
})

const PING_MS = 1000
const TIMEOUT_MS = 2000

function open(tab: FakeTab, server: FakeRealtime, options: Partial<SharedClientOptions> = {}): SharedClient {
  const client = createSharedClient({
    url: 'http://rt.test',
    WebSocket: server.WebSocket,
    transports: ['websocket'],
    heartbeat: false,
    onOnline: false,
    lazy: false,
    user: 'ann',
    random: seededRandom(tab.name.charCodeAt(0)),
    tabs: {
      locks: tab.locks,
      BroadcastChannel: tab.BroadcastChannel,
      pingIntervalMs: PING_MS,
      leaderTimeoutMs: TIMEOUT_MS,
    },
    ...options,
  })
  clients.push(client)
  return client
}

/** Opens tabs one after another (the first queues for the lock first) and lets them settle. */
async function openTabs(names: string[], server: FakeRealtime, browser = createFakeBrowser()) {
  const tabs = names.map((name) => browser.tab(name))
  const list = tabs.map((tab) => open(tab, server))
  await tick(10)
  return { browser, tabs, clients: list }
}

/** What a tab's handler got on `channel`, as `cursor=data`. */
function collect(client: SharedClient, channel: string, since?: string): string[] {
  const got: string[] = []
  client.subscribe(channel, (m) => void got.push(`${m.cursor}=${m.data}`), { since })
  return got
}

const upTo = (to: number, from = 1) =>
  Array.from({ length: to - from + 1 }, (_, i) => `e:${from + i}=${from + i}`)
const publishRange = (server: FakeRealtime, from: number, to: number) => {
  for (let n = from; n <= to; n++) server.publish('room', n)
}
const leaderOf = (list: SharedClient[]) => {
  const leaders = list.filter((c) => c.role === 'leader')
  expect(leaders).toHaveLength(1)
  return leaders[0]!
}

describe('election and relaying', () => {
  test('three tabs: one leader, one server connection, every tab gets every message once, in order', async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b', 'c'], server)
    expect(list.map((c) => c.role)).toEqual(['leader', 'follower', 'follower'])
    const got = [collect(list[0]!, 'room')]
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    // Tabs subscribing later join the channel the leader already follows, from now: no second subscribe.
    got.push(collect(list[1]!, 'room'))
    await tick(10)
    got.push(collect(list[2]!, 'room'))
    await tick(10)
    publishRange(server, 3, 5)
    await tick(10)
    expect(server.sockets).toHaveLength(1)
    expect(server.sent('subscribe', 'room')).toHaveLength(1)
    expect(got).toEqual([upTo(5), upTo(5, 3), upTo(5, 3)])
    for (const c of list) expect(c.state).toMatchObject({ status: 'connected', transport: 'websocket' })
  })

  test('a publish made in a follower resolves there with the server cursor', async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b'], server)
    const got = collect(list[0]!, 'room')
    await tick(10)
    server.publish('room', 'before')
    const result = list[1]!.publish('room', 'from b')
    await tick(10)
    await expect(result).resolves.toEqual({ cursor: 'e:2', duplicate: false })
    expect(server.sent('publish')).toHaveLength(1)
    expect(server.sockets[0]!.frames.filter((f) => f.type === 'publish')).toHaveLength(1)
    expect(got).toEqual(['e:1=before', 'e:2=from b'])
  })

  test('a tab that needs older history makes the leader subscribe again from there; live tabs see nothing twice', async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b', 'c'], server)
    const a = collect(list[0]!, 'room')
    const b = collect(list[1]!, 'room')
    await tick(10)
    publishRange(server, 1, 3)
    await tick(10)
    const c = collect(list[2]!, 'room', 'e:1')
    await tick(10)
    publishRange(server, 4, 5)
    await tick(10)
    expect(server.sent('subscribe', 'room').map((f) => f.since)).toEqual([undefined, 'e:1'])
    expect(a).toEqual(upTo(5))
    expect(b).toEqual(upTo(5))
    expect(c).toEqual(upTo(5, 2))
  })

  test('a tab unsubscribing leaves the channel to the others; the last one out unsubscribes on the server', async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b'], server)
    const subA = list[0]!.subscribe('room', () => {})
    const b: string[] = []
    const subB = list[1]!.subscribe('room', (m) => void b.push(m.cursor))
    await tick(10)
    subA.unsubscribe()
    await tick(10)
    server.publish('room', 1)
    await tick(10)
    expect(server.sent('unsubscribe', 'room')).toHaveLength(0)
    expect(b).toEqual(['e:1'])
    subB.unsubscribe()
    await tick(10)
    expect(server.sent('unsubscribe', 'room')).toHaveLength(1)
  })

  test('a leader whose timers are throttled (a hidden tab) still relays every frame at once', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    // Every timer of the leader's tab fires a minute late, as in a background tab under intensive throttling.
    const throttled: Timers = {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms + 60_000),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    }
    const leader = open(browser.tab('a'), server, { timers: throttled })
    await tick(10)
    const follower = open(browser.tab('b'), server)
    await tick(10)
    expect(leader.role).toBe('leader')
    const got = collect(follower, 'room')
    await tick(10)
    publishRange(server, 1, 3)
    await tick(0)
    expect(got).toEqual(upTo(3))
  })

  test('tabs of different users never share a connection (user from the token `sub`)', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const token = (sub: string) => fakeJwt(4_000_000_000, sub)
    const ann = open(browser.tab('a'), server, { user: undefined, getToken: () => token('ann') })
    const bob = open(browser.tab('b'), server, { user: undefined, getToken: () => token('bob') })
    const ann2 = open(browser.tab('c'), server, { user: undefined, getToken: () => token('ann') })
    await tick(10)
    expect([ann.role, bob.role, ann2.role]).toEqual(['leader', 'leader', 'follower'])
    expect(server.open().map((s) => s.token)).toEqual([token('ann'), token('bob')])
  })

  test('tabs whose user is unknown (the token has no `sub`) share with nobody', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const list = ['a', 'b'].map((name) =>
      open(browser.tab(name), server, { user: undefined, getToken: () => 'opaque-token' }),
    )
    await tick(10)
    expect(list.map((c) => c.role)).toEqual(['leader', 'leader'])
    expect(server.open()).toHaveLength(2)
  })

  test('without Web Locks or BroadcastChannel each tab keeps its own connection, as createClient does', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const noLocks = open(browser.tab('a'), server, {
      tabs: { BroadcastChannel: browser.tab('x').BroadcastChannel },
    })
    // Node has a global BroadcastChannel: take it away for this tab.
    vi.stubGlobal('BroadcastChannel', undefined)
    const noChannel = open(browser.tab('b'), server, { tabs: { locks: browser.tab('y').locks } })
    vi.unstubAllGlobals()
    const got = collect(noLocks, 'room')
    collect(noChannel, 'room')
    await tick(10)
    server.publish('room', 1)
    await tick(10)
    expect([noLocks.role, noChannel.role]).toEqual(['alone', 'alone'])
    expect(server.open()).toHaveLength(2)
    expect(got).toEqual(upTo(1))
  })

  test("a follower's state mirrors the leader's connection: reconnecting, then connected and resumed", async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b'], server, createFakeBrowser())
    const got = collect(list[1]!, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    const states: string[] = []
    list[1]!.onStateChange((s) => states.push(s.status))
    server.sockets[0]!.drop()
    publishRange(server, 3, 4)
    await tick(5_000)
    publishRange(server, 5, 5)
    await tick(10)
    expect(states[0]).toBe('reconnecting')
    expect(states.at(-1)).toBe('connected')
    expect(list[1]!.state.status).toBe('connected')
    expect(got).toEqual(upTo(5))
    expect(server.sent('subscribe', 'room').at(-1)?.since).toBe('e:2')
  })
})

describe('hand-off', () => {
  test('the leader closes: another tab leads at once and the others miss nothing and see nothing twice', async () => {
    const server = createFakeRealtime()
    const { clients: list } = await openTabs(['a', 'b', 'c'], server)
    const got = list.slice(1).map((c) => collect(c, 'room'))
    await tick(10)
    publishRange(server, 1, 5)
    await tick(10)
    list[0]!.close()
    publishRange(server, 6, 8) // while no tab holds a connection
    await tick(0)
    publishRange(server, 9, 10)
    await tick(10)
    const next = leaderOf(list.slice(1))
    publishRange(server, 11, 12)
    await tick(10)
    for (const g of got) expect(g).toEqual(upTo(12))
    expect(server.open()).toHaveLength(1)
    // The new leader resumed the channel from the cursor the tabs held.
    expect(server.open()[0]!.frames.find((f) => f.type === 'subscribe')?.since).toBe('e:5')
    expect(next.state.status).toBe('connected')
  })

  test('the leader crashes (no goodbye): the next tab in line takes over, nothing lost, nothing twice', async () => {
    const server = createFakeRealtime()
    const { tabs, clients: list } = await openTabs(['a', 'b', 'c'], server)
    const got = list.slice(1).map((c) => collect(c, 'room'))
    await tick(10)
    publishRange(server, 1, 3)
    await tick(10)
    tabs[0]!.crash() // its locks are released by the browser; it says nothing
    server.sockets[0]!.drop() // and its socket dies with it
    list[0]!.close() // (stops its timers in this process; its messages go nowhere)
    publishRange(server, 4, 6)
    await tick(10)
    expect(leaderOf(list.slice(1))).toBe(list[1])
    publishRange(server, 7, 8)
    await tick(10)
    for (const g of got) expect(g).toEqual(upTo(8))
    expect(server.open()).toHaveLength(1)
  })

  test('a frozen leader is replaced within leaderTimeoutMs + pingIntervalMs + leaderTimeoutMs / 4, and steps down when it thaws', async () => {
    const server = createFakeRealtime()
    const { browser, tabs, clients: list } = await openTabs(['a', 'b', 'c'], server)
    const got = list.map((c) => collect(c, 'room'))
    await tick(10)
    publishRange(server, 1, 3)
    await tick(10)
    tabs[0]!.freeze()
    publishRange(server, 4, 5) // the frozen leader's socket takes them; its relays wait with the page
    const lock = 'holdfast http://rt.test ann'
    // Silent for leaderTimeoutMs: still the leader (a busy page gets that long).
    await tick(TIMEOUT_MS - 10)
    expect(browser.holder(lock)).toBe('a')
    // Found out at the next check (at most pingIntervalMs later), taken after at most leaderTimeoutMs / 4.
    await tick(10 + PING_MS + TIMEOUT_MS / 4)
    expect(browser.holder(lock)).not.toBe('a')
    await tick(10)
    publishRange(server, 6, 7)
    await tick(10)
    expect(got[1]).toEqual(upTo(7))
    expect(got[2]).toEqual(upTo(7))
    // Thawed, the old leader hears of the new one, stops relaying and follows it, missing nothing either.
    tabs[0]!.thaw()
    await tick(10)
    publishRange(server, 8, 8)
    await tick(10)
    expect(list[0]!.role).toBe('follower')
    expect(server.open()).toHaveLength(1)
    for (const g of got) expect(g).toEqual(upTo(8))
  })

  test('a leader about to be frozen (Page Lifecycle `freeze`) hands over at once, and follows after `resume`', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const pages = ['a', 'b'].map(() => new EventTarget())
    const list = ['a', 'b'].map((name, i) => {
      const tab = browser.tab(name)
      return open(tab, server, {
        tabs: { locks: tab.locks, BroadcastChannel: tab.BroadcastChannel, lifecycle: pages[i] },
      })
    })
    await tick(10)
    const got = collect(list[1]!, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    pages[0]!.dispatchEvent(new Event('freeze'))
    publishRange(server, 3, 4)
    await tick(10)
    expect(list.map((c) => c.role)).toEqual(['follower', 'leader'])
    expect(server.open()).toHaveLength(1)
    pages[0]!.dispatchEvent(new Event('resume'))
    list[1]!.close()
    await tick(10)
    expect(list[0]!.role).toBe('leader')
    expect(got).toEqual(upTo(4))
  })

  test('a tab that never answers holds nobody up, and its channels are dropped once it is gone', async () => {
    const server = createFakeRealtime()
    const { tabs, clients: list } = await openTabs(['a', 'b', 'c'], server)
    const a = collect(list[0]!, 'room')
    collect(list[1]!, 'room')
    collect(list[1]!, 'only-b')
    const c = collect(list[2]!, 'room')
    await tick(10)
    tabs[1]!.freeze()
    publishRange(server, 1, 3)
    await tick(PING_MS * 10)
    expect(a).toEqual(upTo(3))
    expect(c).toEqual(upTo(3))
    expect(leaderOf(list)).toBe(list[0])
    expect(server.sent('unsubscribe', 'only-b')).toHaveLength(0)
    tabs[1]!.crash()
    list[1]!.close()
    await tick(10)
    // The leader waited on the tab's own lock: released when the tab died, so its lone channel goes too.
    expect(server.sent('unsubscribe', 'only-b')).toHaveLength(1)
    expect(server.sent('unsubscribe', 'room')).toHaveLength(0)
  })

  test('a publish in flight when the leader goes resolves in its own tab with the server cursor, stored once', async () => {
    let holding = true
    const server = createFakeRealtime({ holdAcks: () => holding })
    const { clients: list } = await openTabs(['a', 'b', 'c'], server)
    const pending = list[2]!.publish('room', 'once')
    await tick(10)
    // The server stored it, but the leader goes before the acknowledgement arrives.
    expect(server.history.get('room')).toHaveLength(1)
    holding = false
    list[0]!.close()
    await tick(10)
    await expect(pending).resolves.toEqual({ cursor: 'e:1', duplicate: true })
    const sends = server.sent('publish')
    expect(sends).toHaveLength(2)
    expect(sends[1]!.key).toBe(sends[0]!.key)
    expect(server.history.get('room')).toHaveLength(1)
  })

  test("a leader that stops for good (the token is refused) stops the followers with the leader's reason", async () => {
    const server = createFakeRealtime({ accept: () => false })
    const { clients: list } = await openTabs(['a', 'b'], server)
    await tick(100)
    expect(list[0]!.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
    expect(list[1]!.state).toMatchObject({ status: 'closed', error: { code: 'unauthorized' } })
    expect((list[1]!.state as { error: Error }).error.message).toContain('the leader tab stopped')
  })
})

describe('over long polling', () => {
  test('a tab joins a channel the leader follows at once, and one needing older history is polled for', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const http = { transports: ['longpoll' as const], fetch: server.fetch }
    const list = ['a', 'b', 'c'].map((name) => open(browser.tab(name), server, http))
    await tick(10)
    const a = collect(list[0]!, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    expect(server.heldPolls()).toBe(1)
    const joined: string[] = []
    const b: string[] = []
    list[1]!.subscribe('room', (m) => void b.push(`${m.cursor}=${m.data}`), {
      onSubscribed: (info) => void joined.push(info.cursor),
    })
    await tick(10)
    // Joined from now while the leader's poll stayed held: nothing waited for the next answer.
    expect(joined).toEqual(['e:2'])
    expect(server.heldPolls()).toBe(1)
    const c = collect(list[2]!, 'room', 'e:1')
    await tick(10)
    publishRange(server, 3, 4)
    await tick(10)
    expect(a).toEqual(upTo(4))
    expect(b).toEqual(upTo(4, 3))
    expect(c).toEqual(upTo(4, 2))
    expect(server.requests.some((r) => r.includes(`since=${encodeURIComponent('room=e:1')}`))).toBe(true)
    expect(server.sockets).toHaveLength(0)
  })

  test('a publish made in a follower goes out as POST /publish with its key and resolves there', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const http = { transports: ['longpoll' as const], fetch: server.fetch }
    const list = ['a', 'b'].map((name) => open(browser.tab(name), server, http))
    await tick(10)
    const result = list[1]!.publish('room', 'over http', { key: 'k-1' })
    await tick(10)
    await expect(result).resolves.toEqual({ cursor: 'e:1', duplicate: false })
    expect(server.requests.filter((r) => r.startsWith('POST /publish'))).toHaveLength(1)
    expect(list[1]!.state).toMatchObject({ status: 'connected', transport: 'longpoll' })
  })
})

describe('the leader hub', () => {
  /** A hub on a stub HTTP transport the test drives: it opens, is asked for the channel set, answers. */
  function hubOnStub() {
    const posts: LeaderPost[] = []
    let host!: TransportHost
    const resyncs: string[] = []
    const transport: Transport = {
      name: 'longpoll',
      concurrency: 1,
      open() {},
      close() {},
      subscribe: ({ channel }) => void resyncs.push(channel),
      unsubscribe: () => {},
      publish: () => new Promise(() => {}),
    }
    const hub = new Hub(
      { url: 'http://rt.test', transports: ['longpoll'], heartbeat: false, onOnline: false },
      {
        longpoll: (h) => {
          host = h
          return transport
        },
      },
      { post: (m) => void posts.push(m), watch: () => () => {} },
    )
    host.opened()
    const session = hub.state.session
    const tab = (id: string) => hub.receive({ t: 'attach', from: id, session })
    const ops = (id: string, ...list: Array<{ channel: string; since?: string }>) =>
      hub.receive({ t: 'ops', from: id, session, ops: list })
    const framesTo = (id: string) =>
      posts.flatMap((m) => (m.t === 'frame' && m.to.includes(id) ? [m.frame] : []))
    return { hub, host: () => host, resyncs, tab, ops, framesTo }
  }

  test('a request is judged by what it asked when it was made, not by asks it replaced', async () => {
    const { hub, host, tab, ops, framesTo } = hubOnStub()
    tab('t1')
    tab('t2')
    ops('t1', { channel: 'room', since: 'e:3' })
    await tick(0)
    // Before the request goes out, a second tab needs older history: the request carries the older point.
    ops('t2', { channel: 'room', since: 'e:1' })
    await tick(0)
    expect(host().subscriptions()).toEqual([{ channel: 'room', since: 'e:1' }])
    host().frame({ type: 'subscribed', id: 0, channel: 'room', epoch: 'e', cursor: 'e:4', recovered: true })
    for (let n = 2; n <= 4; n++) host().frame({ type: 'message', channel: 'room', cursor: `e:${n}`, data: n })
    const cursors = (id: string) => framesTo(id).map((f) => (f.type === 'message' ? f.cursor : f.type))
    expect(cursors('t1')).toEqual(['subscribed', 'e:2', 'e:3', 'e:4'])
    expect(cursors('t2')).toEqual(['subscribed', 'e:2', 'e:3', 'e:4'])
    hub.stop()
  })
})

describe('the tab transport', () => {
  /** A tab link whose leader and messages the test sets; `posts` is what the transport sent to the leader. */
  function stubLink() {
    const listeners = new Set<(m: LeaderMessage) => void>()
    const posts: Array<{ t: string }> = []
    const link = {
      id: 'me',
      leader: undefined as { id: string; term: number; state: LeaderState } | undefined,
      start() {},
      post: (m: { t: string }) => void posts.push(m),
      listen(fn: (m: LeaderMessage) => void) {
        listeners.add(fn)
        return () => listeners.delete(fn)
      },
    }
    const announce = (state: LeaderState) => {
      link.leader = { id: 'L', term: 1, state }
      for (const fn of listeners) fn({ t: 'leader', from: 'L', term: 1, state })
    }
    return { link, posts, announce }
  }

  function stubHost() {
    const calls: string[] = []
    const host = {
      now: () => Date.now(),
      opened: () => void calls.push('opened'),
      closed: (d: { error?: { message: string } }) => void calls.push(`closed: ${d.error?.message}`),
      frame: () => {},
      activity: () => {},
    } as unknown as TransportHost
    return { host, calls }
  }

  test('a leader that replaced its connection (a new session, still connected) makes the tab attach again', () => {
    const { link, posts, announce } = stubLink()
    const { host, calls } = stubHost()
    announce({ status: 'connected', session: 1, transport: 'sse' })
    const transport = tabTransport(link as unknown as TabLink)(host)
    transport.open()
    expect(transport.name).toBe('sse')
    announce({ status: 'connected', session: 1, transport: 'sse' })
    expect(calls).toEqual(['opened'])
    announce({ status: 'connected', session: 2, transport: 'websocket' })
    expect(calls).toEqual(['opened', 'closed: [holdfast] the leader tab lost its connection'])
    transport.open()
    expect(calls.at(-1)).toBe('opened')
    expect(transport.name).toBe('websocket')
    expect(posts.map((p) => p.t)).toEqual(['attach', 'detach', 'attach'])
  })

  test("while the leader waits to reconnect, the tab waits as long (the leader's retry time is its floor)", () => {
    const { link, announce } = stubLink()
    const closed: Array<{ hintMs?: number }> = []
    const host = {
      ...stubHost().host,
      closed: (d: { hintMs?: number }) => void closed.push(d),
    } as TransportHost
    const transport = tabTransport(link as unknown as TabLink)(host)
    announce({ status: 'reconnecting', session: 1, nextRetryAt: Date.now() + 4000 })
    transport.open()
    expect(closed).toEqual([expect.objectContaining({ opened: false, hintMs: 4000 })])
    // A retry time already past (the leader's own timer is late): wait for its next state, do not spin.
    announce({ status: 'reconnecting', session: 1, nextRetryAt: Date.now() - 1 })
    transport.open()
    expect(closed).toHaveLength(1)
  })
})
