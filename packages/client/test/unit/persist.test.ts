// Delivery that survives a reload (@holdfast/client/persist): cursors and unacknowledged publishes kept in
// storage, the bounds on them, and forgetting. A "reload" is a second client on what the first one's storage
// held when its page died (the first is then stopped, as the page would be).
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import {
  createPersistentClient,
  type HoldfastError,
  memoryStorage,
  type PersistentClient,
  type PersistentClientOptions,
  type PersistStorage,
} from '../../src/persist'
import { createSharedClient } from '../../src/tabs'
import { createFakeRealtime, type FakeRealtime } from '../helpers/fakeRealtime'
import { createFakeBrowser } from '../helpers/fakeTabs'

let clients: PersistentClient[] = []
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)

beforeEach(() => {
  vi.useFakeTimers()
})
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  vi.useRealTimers()
})

type Storage = ReturnType<typeof memoryStorage>

function open(
  server: FakeRealtime,
  storage: PersistStorage,
  options: Partial<PersistentClientOptions> = {},
): PersistentClient {
  const client = createPersistentClient({
    url: 'http://rt.test',
    WebSocket: server.WebSocket,
    transports: ['websocket'],
    heartbeat: false,
    onOnline: false,
    lazy: false,
    user: 'ann',
    persist: { storage },
    ...options,
  })
  clients.push(client)
  return client
}

/** The page dies: what its storage holds now is what the next page finds. */
function die(client: PersistentClient, storage: Storage): Storage {
  const kept = memoryStorage()
  for (const [key, value] of storage.data) kept.data.set(key, structuredClone(value))
  client.close()
  return kept
}

function collect(client: PersistentClient, channel: string): string[] {
  const got: string[] = []
  client.subscribe(channel, (m) => void got.push(`${m.cursor}=${m.data}`))
  return got
}

const upTo = (to: number, from = 1) =>
  Array.from({ length: to - from + 1 }, (_, i) => `e:${from + i}=${from + i}`)
const publishRange = (server: FakeRealtime, from: number, to: number, channel = 'room') => {
  for (let n = from; n <= to; n++) server.publish(channel, n)
}

describe('across a reload', () => {
  test('every channel resumes from where the page was: what was published meanwhile arrives once', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const before = open(server, storage)
    const first = collect(before, 'room')
    const other = collect(before, 'other')
    await tick(10)
    publishRange(server, 1, 3)
    publishRange(server, 1, 1, 'other')
    await tick(10)
    await before.flush()
    const kept = die(before, storage)
    publishRange(server, 4, 6) // while the page reloads
    const after = open(server, kept)
    const second = collect(after, 'room')
    const otherAfter = collect(after, 'other')
    await tick(10)
    publishRange(server, 7, 7)
    await tick(10)
    expect(first).toEqual(upTo(3))
    expect(second).toEqual(upTo(7, 4))
    expect(other).toEqual(upTo(1))
    expect(otherAfter).toEqual([])
    expect(server.sent('subscribe', 'room').map((f) => f.since)).toEqual([undefined, 'e:3'])
  })

  test('a publish pending at the reload is sent once more with its key: the server stores it once', async () => {
    let holding = true
    const server = createFakeRealtime({ holdAcks: () => holding })
    const storage = memoryStorage()
    const before = open(server, storage)
    void before.publish('room', 'pending').catch(() => {})
    await tick(10)
    expect(server.history.get('room')).toHaveLength(1) // stored, but the acknowledgement never came
    const kept = die(before, storage)
    holding = false
    const after = open(server, kept)
    await tick(10)
    const restored = await after.restored
    expect(restored).toEqual([
      {
        channel: 'room',
        data: 'pending',
        key: expect.any(String),
        result: { cursor: 'e:1', duplicate: true },
      },
    ])
    const sends = server.sent('publish')
    expect(sends.map((f) => f.key)).toEqual([restored[0]!.key, restored[0]!.key])
    expect(server.history.get('room')).toHaveLength(1)
    // Acknowledged now: a third page sends nothing.
    await after.flush()
    const third = open(server, die(after, kept))
    await tick(10)
    expect(await third.restored).toEqual([])
  })

  test('a publish that never reached the server (offline) goes out after the reload, stored once', async () => {
    let online = false
    const server = createFakeRealtime({ reachable: () => online })
    const storage = memoryStorage()
    const before = open(server, storage)
    void before.publish('room', 'queued').catch(() => {})
    await tick(10)
    expect(server.sent('publish')).toHaveLength(0)
    online = true
    const after = open(server, die(before, storage))
    await tick(10)
    expect((await after.restored).map((r) => r.result)).toEqual([{ cursor: 'e:1', duplicate: false }])
    expect(server.history.get('room')).toHaveLength(1)
  })

  test('publishes older than queue.ttlMs are not sent again; the next page is told', async () => {
    const server = createFakeRealtime({ reachable: () => false })
    const storage = memoryStorage()
    const before = open(server, storage)
    void before.publish('room', 'stale').catch(() => {})
    await tick(10)
    const kept = die(before, storage)
    vi.setSystemTime(Date.now() + 60_000)
    const after = open(server, kept)
    await tick(10)
    const [restored] = await after.restored
    expect((restored!.error as HoldfastError).code).toBe('timeout')
    expect(server.sent('publish')).toHaveLength(0)
    expect([...kept.data.keys()].some((k) => k.includes('|p|'))).toBe(false)
  })

  test('subscribing before storage is read still resumes from the stored cursor', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const before = open(server, storage)
    collect(before, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    const kept = die(before, storage)
    publishRange(server, 3, 3)
    // Storage that answers later (IndexedDB is asynchronous).
    const slow: PersistStorage = {
      get: async (key) => kept.get(key),
      set: (key, value) => kept.set(key, value),
      delete: (key) => kept.delete(key),
      keys: () => new Promise((resolve) => setTimeout(() => resolve([...kept.data.keys()]), 50)),
    }
    const after = open(server, slow)
    const got = collect(after, 'room')
    expect(() => after.subscribe('bad channel!', () => {})).toThrow(
      expect.objectContaining({ code: 'invalid_channel' }),
    )
    await tick(100)
    expect(got).toEqual(upTo(3, 3))
  })

  test('once the server confirmed a channel, a later fresh subscribe starts from now, as without persist', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const before = open(server, storage)
    collect(before, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    await before.flush()
    const client = open(server, die(before, storage))
    const sub = client.subscribe('room', () => {})
    await tick(10)
    expect(server.sent('subscribe', 'room').at(-1)?.since).toBe('e:2')
    sub.unsubscribe()
    await tick(10)
    publishRange(server, 3, 3)
    const got = collect(client, 'room')
    await tick(10)
    publishRange(server, 4, 4)
    await tick(10)
    expect(got).toEqual(upTo(4, 4))
  })

  test('tabs sharing a connection each resume from their own cursors after a reload', async () => {
    const server = createFakeRealtime()
    const browser = createFakeBrowser()
    const storage = memoryStorage()
    const tab = (name: string, store: PersistStorage) => {
      const t = browser.tab(name)
      const c = createSharedClient({
        url: 'http://rt.test',
        WebSocket: server.WebSocket,
        transports: ['websocket'],
        heartbeat: false,
        onOnline: false,
        lazy: false,
        user: 'ann',
        persist: { storage: store },
        tabs: { locks: t.locks, BroadcastChannel: t.BroadcastChannel },
      })
      clients.push(c)
      return c
    }
    const leader = tab('a', memoryStorage())
    await tick(10)
    const follower = tab('b', storage)
    collect(leader, 'room')
    collect(follower, 'room')
    await tick(10)
    publishRange(server, 1, 2)
    await tick(10)
    await follower.flush()
    const kept = die(follower, storage)
    publishRange(server, 3, 4)
    await tick(10)
    const reloaded = tab('c', kept)
    const got = collect(reloaded, 'room')
    await tick(10)
    expect(reloaded.role).toBe('follower')
    expect(got).toEqual(upTo(4, 3))
    expect(server.sockets).toHaveLength(1)
  })
})

describe('bounds and forgetting', () => {
  test('past persist.maxPublishes or persist.maxBytes a publish is refused with queue_full, never dropped quietly', async () => {
    const server = createFakeRealtime({ reachable: () => false })
    const storage = memoryStorage()
    const client = open(server, storage, { persist: { storage, maxPublishes: 2, maxBytes: 20 } })
    const results = ['"a"', '"b"', '"c"'].map((data) => client.publish('room', JSON.parse(data)))
    const large = client.publish('room', 'x'.repeat(30))
    for (const r of [...results, large]) r.catch(() => {})
    await tick(10)
    await expect(results[2]).rejects.toMatchObject({ code: 'queue_full' })
    await expect(large).rejects.toMatchObject({ code: 'queue_full' })
    expect([...storage.data.keys()].filter((k) => k.includes('|p|'))).toHaveLength(2)
  })

  test('past persist.maxChannels the channel delivered to least recently is forgotten', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const client = open(server, storage, { persist: { storage, maxChannels: 2 } })
    for (const channel of ['a', 'b', 'c']) collect(client, channel)
    await tick(10)
    for (const channel of ['a', 'b', 'c']) publishRange(server, 1, 1, channel)
    publishRange(server, 2, 2, 'a')
    await tick(10)
    await client.flush()
    const record = [...storage.data].find(([k]) => k.endsWith('|c'))![1] as { cursors: object }
    expect(Object.keys(record.cursors).sort()).toEqual(['a', 'c'])
  })

  test('cursors older than persist.maxAgeMs are not resumed from, and are deleted', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const before = open(server, storage, { persist: { storage, maxAgeMs: 60_000 } })
    collect(before, 'room')
    await tick(10)
    publishRange(server, 1, 1)
    await tick(10)
    const kept = die(before, storage)
    vi.setSystemTime(Date.now() + 60_000)
    const after = open(server, kept, { persist: { storage: kept, maxAgeMs: 60_000 } })
    collect(after, 'room')
    await tick(10)
    expect(server.sent('subscribe', 'room').at(-1)?.since).toBeUndefined()
    expect(kept.data.size).toBe(0)
  })

  test("close({ forget: true }) deletes everything this user kept (every tab's) and writes nothing more", async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    storage.data.set('holdfast|http%3A%2F%2Frt.test%20ann|other-tab|c', { at: Date.now(), cursors: {} })
    storage.data.set('holdfast|http%3A%2F%2Frt.test%20bob|main|c', { at: Date.now(), cursors: {} })
    const client = open(server, storage)
    collect(client, 'room')
    await tick(10)
    publishRange(server, 1, 1)
    await tick(10)
    await client.flush()
    expect(storage.data.size).toBe(3)
    client.close({ forget: true })
    await tick(10)
    expect([...storage.data.keys()]).toEqual(['holdfast|http%3A%2F%2Frt.test%20bob|main|c'])
  })

  test('with the user unknown (the token has no `sub`) nothing is kept or read, and the client says so', async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    storage.data.set('holdfast|http%3A%2F%2Frt.test%20anonymous|main|c', {
      at: Date.now(),
      cursors: { room: ['e:1', Date.now()] },
    })
    const client = open(server, storage, { user: undefined, getToken: () => 'opaque-token' })
    const errors: string[] = []
    client.on('error', (e) => void errors.push(e.message))
    collect(client, 'room')
    const result = client.publish('room', 'x')
    await tick(10)
    await expect(result).resolves.toMatchObject({ cursor: 'e:1' })
    expect(server.sent('subscribe', 'room').at(-1)?.since).toBeUndefined()
    expect([...storage.data.keys()]).toEqual(['holdfast|http%3A%2F%2Frt.test%20anonymous|main|c'])
    expect(errors).toEqual([expect.stringContaining('persist is off')])
  })

  test("users never read each other's cursors", async () => {
    const server = createFakeRealtime()
    const storage = memoryStorage()
    const ann = open(server, storage)
    collect(ann, 'room')
    await tick(10)
    publishRange(server, 1, 1)
    await tick(10)
    const kept = die(ann, storage)
    const bob = open(server, kept, { user: 'bob' })
    collect(bob, 'room')
    await tick(10)
    expect(server.sent('subscribe', 'room').at(-1)?.since).toBeUndefined()
  })

  test('a storage that fails is reported as an error; publishing goes on', async () => {
    const server = createFakeRealtime()
    const failing: PersistStorage = {
      get: () => undefined,
      set: () => Promise.reject(new Error('quota exceeded')),
      delete: () => {},
      keys: () => [],
    }
    const client = open(server, failing)
    const errors: string[] = []
    client.on('error', (e) => void errors.push(e.message))
    const result = client.publish('room', 'still sent')
    await tick(10)
    await expect(result).resolves.toMatchObject({ cursor: 'e:1' })
    expect(errors.some((m) => m.includes('quota exceeded'))).toBe(true)
  })

  test('without a storage and without IndexedDB, persist says what to pass', () => {
    const server = createFakeRealtime()
    expect(() =>
      createPersistentClient({
        url: 'http://rt.test',
        WebSocket: server.WebSocket,
        persist: true,
        lazy: true,
      }),
    ).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringContaining('memoryStorage') }),
    )
  })
})
