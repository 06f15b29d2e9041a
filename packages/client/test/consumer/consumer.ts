// A consumer of the built package, type-checked in CI under strict settings with moduleResolution bundler
// and node16 (tsconfig.bundler.json, tsconfig.node16.json). It uses every public type and option, so a
// declaration that lies fails the typecheck here rather than in a user's app.
import {
  type BackoffOptions,
  type ClientEvents,
  type ClientOptions,
  type ClientStats,
  type ConnectionState,
  type Cursor,
  createClient,
  type DeliveryEnv,
  type DeliveryPolicy,
  type ErrorCode,
  ErrorCode as ErrorCodeAsValue,
  type FallbackOptions,
  type FetchFunction,
  type GapInfo,
  type GetToken,
  type HeartbeatOptions,
  type HoldfastClient,
  HoldfastError,
  type JitterMode,
  type Message,
  type PublishOptions,
  type PublishQueueOptions,
  type PublishResult,
  type SubscribedInfo,
  type SubscribeOptions,
  type Subscription,
  type Timers,
  type TransportName,
  type WebSocketConstructor,
} from '@holdfast/client'
import {
  buffer,
  coalesce,
  type DeliverySchedule,
  latest,
  type StreamOptions,
  stream,
} from '@holdfast/client/delivery'
import {
  createEventStream,
  type EventStream,
  type EventStreamOptions,
  type StreamEvent,
} from '@holdfast/client/event-stream'
import {
  type CloseOptions,
  createPersistentClient,
  type PersistentClient,
  type PersistentClientOptions,
  type RestoredPublish,
} from '@holdfast/client/persist'
import {
  type Presence,
  type PresenceEvents,
  type PresenceMember,
  type PresenceOptions,
  type PresenceState,
  type PresenceUser,
  presence,
} from '@holdfast/client/presence'
import {
  type BroadcastChannelConstructor,
  createSharedClient,
  indexedDbStorage,
  type LockManagerLike,
  memoryStorage,
  type PersistOptions,
  type PersistStorage,
  type SharedClient,
  type SharedClientOptions,
  type SharedClientRole,
  type TabsOptions,
} from '@holdfast/client/tabs'
import { createClient as createWebSocketClient } from '@holdfast/client/websocket'
import WebSocket from 'ws'

interface Chat {
  user: string
  text: string
}

// The README's Node line, as written: `ws`'s class (with @types/ws) is a WebSocket implementation.
const nodeClient = createClient({ url: 'http://127.0.0.1:8080', WebSocket })
const wsOnly: HoldfastClient = createWebSocketClient({ url: 'wss://rt.example.com', WebSocket })

const backoff: BackoffOptions = {
  initialMs: 500,
  maxMs: 30_000,
  jitter: 'decorrelated' satisfies JitterMode,
  stableAfterMs: 5000,
  unreachableMaxMs: 2000,
}
const heartbeat: HeartbeatOptions = { intervalMs: 20_000, timeoutMs: 10_000 }
const queue: PublishQueueOptions = { maxMessages: 100, maxBytes: 1 << 20, ttlMs: 60_000 }
const fallback: FallbackOptions = { probeIntervalMs: 30_000, failuresBeforeFallback: 3 }
const timers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as number),
}
const getToken: GetToken = async () => 'jwt'
const fetchImpl: FetchFunction = (input, init) => fetch(input, init)
const WebSocketImpl: WebSocketConstructor = WebSocket
const transports: TransportName[] = ['websocket', 'sse', 'longpoll']
const options: ClientOptions = {
  url: 'https://rt.example.com',
  getToken,
  transports,
  WebSocket: WebSocketImpl,
  fetch: fetchImpl,
  backoff,
  heartbeat,
  queue,
  tokenRefreshMarginMs: 30_000,
  fallback,
  openTimeoutMs: 3000,
  idleTimeoutMs: 45_000,
  holdMs: 25_000,
  lazy: true,
  onOnline: (fn) => {
    globalThis.addEventListener('online', fn)
    return () => globalThis.removeEventListener('online', fn)
  },
  timers,
  now: Date.now,
  random: Math.random,
  debug: (message: string, details?: unknown) => console.debug(message, details),
}
const client: HoldfastClient = createClient(options)

// subscribe<TData>: the handler and every option see the channel's message type.
const onGap = (gap: GapInfo): void => void gap.since
const subscribeOptions: SubscribeOptions<Chat> = {
  since: 'e1:0' satisfies Cursor,
  onGap,
  onError: (error: HoldfastError) => void (error.code satisfies ErrorCode),
  onSubscribed: (info: SubscribedInfo) => void info.recovered,
  delivery: coalesce<Chat>((m) => m.data.user, 'frame' satisfies DeliverySchedule),
}
const sub: Subscription = client.subscribe<Chat>(
  'chat.1',
  (m: Message<Chat>) => m.data.text.toUpperCase(),
  subscribeOptions,
)
client.subscribe<Chat>('chat.2', (m) => m.data.user, {
  delivery: buffer({ maxMessages: 10, overflow: 'drop-oldest' }),
})
client.subscribe<number>('ticks', (m) => m.data + 1, { delivery: latest('tick') })
// @ts-expect-error coalesce's key gets the message type: Chat has no `nope`
client.subscribe<Chat>('chat.3', () => {}, { delivery: coalesce<Chat>((m) => m.data.nope) })
const cursor: Cursor | undefined = sub.cursor
sub.unsubscribe()

// A policy of one's own, from the documented contract.
const everyOther: DeliveryPolicy<Chat> = (handler, env: DeliveryEnv) => {
  let n = 0
  return {
    push: (message) => void (n++ % 2 === 0 && handler(message)),
    close: () => env.timers.clearTimeout(undefined),
  }
}
client.subscribe<Chat>('chat.4', () => {}, { delivery: everyOther })

const publishOptions: PublishOptions = { key: 'idempotency-key' }
const published: Promise<PublishResult> = client.publish(
  'chat.1',
  { user: 'a', text: 'hi' } satisfies Chat,
  publishOptions,
)

const state: ConnectionState = client.state
if (state.status === 'reconnecting') void (state.nextRetryAt + state.attempt)
if (state.status === 'closed') void (state.transport satisfies TransportName | undefined)
const offState: () => void = client.onStateChange((s) => void s.status)
const offGap = client.on('gap', (g: ClientEvents['gap']) => void g.channel)
const offError = client.on('error', (e: ClientEvents['error']) => void e.retryable)
const stats: ClientStats = client.stats
void stats.transportSwitches

const streamOptions: StreamOptions<Chat> = { highWaterMark: 100, overflow: 'error', since: cursor, onGap }
async function readAll(): Promise<void> {
  for await (const m of stream<Chat>(client, 'chat.1', streamOptions)) void m.data.text
}

const es: EventStream = createEventStream('https://example.com/sse', {
  onEvent: (event: StreamEvent) => void event.data,
  headers: async () => ({ authorization: 'Bearer x' }),
  backoff,
} satisfies EventStreamOptions)

const presenceOptions: PresenceOptions<{ name: string }> = {
  enter: true,
  info: { name: 'A' },
  touchIntervalMs: 30_000,
}
const room: Presence<{ name: string }> = presence(client, 'chat.1', presenceOptions)
const roomState: PresenceState<{ name: string }> = room.getSnapshot()
if (roomState.status === 'error') void roomState.error?.code
const firstUser: PresenceUser<{ name: string }> | undefined = roomState.members[0]
const myMember: PresenceMember<{ name: string }> | undefined = roomState.me
void [firstUser?.info?.name, firstUser?.connections.length, myMember?.connectionId, roomState.count]
const offJoin = room.on('join', (user: PresenceEvents<{ name: string }>['join']) => void user.clientId)
const offChange: () => void = room.subscribe(() => void room.state.clients)
room.update({ name: 'B' })
// @ts-expect-error info must match the channel's info type
room.update({ nope: 1 })
room.leave()
room.close()
// One connection for all tabs, and persistence: the same client API, plus role and forget.
const storage: PersistStorage = memoryStorage()
const persist: PersistOptions = {
  storage,
  maxChannels: 100,
  maxPublishes: 50,
  maxBytes: 1 << 18,
  maxAgeMs: 86_400_000,
}
const tabs: TabsOptions = {
  pingIntervalMs: 1000,
  leaderTimeoutMs: 2000,
  locks: navigator.locks satisfies LockManagerLike,
  BroadcastChannel: BroadcastChannel satisfies BroadcastChannelConstructor,
}
const sharedOptions: SharedClientOptions = { ...options, user: 'ann', tabs, persist }
const shared: SharedClient = createSharedClient(sharedOptions)
// The hooks take a HoldfastClient: a shared client is one.
const asClient: HoldfastClient = shared
const role: SharedClientRole = shared.role
const offRole: () => void = shared.onRoleChange((r: SharedClientRole) => void r)
const restored: Promise<RestoredPublish[]> = shared.restored
const forget: CloseOptions = { forget: true }
shared.close(forget)
void createSharedClient({
  url: 'https://rt.example.com',
  tabs: false,
  persist: { storage: indexedDbStorage() },
})
const persistentOptions: PersistentClientOptions = { url: 'https://rt.example.com', persist: true }
const persistent: PersistentClient = createPersistentClient(persistentOptions)
const flushed: Promise<void> = persistent.flush()

const error = new HoldfastError('timeout', 'message', { retryAfterMs: 5, cause: new Error('x') })
const wrapped: HoldfastError = HoldfastError.from(new Error('y'), 'internal')
// @ts-expect-error ErrorCode is a type only: the package has no runtime object of that name to read from
void ErrorCodeAsValue.Forbidden

export {
  asClient,
  error,
  es,
  flushed,
  nodeClient,
  offChange,
  offError,
  offGap,
  offJoin,
  offRole,
  offState,
  published,
  readAll,
  restored,
  role,
  wrapped,
  wsOnly,
}
