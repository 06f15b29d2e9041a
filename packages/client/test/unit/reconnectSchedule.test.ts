// The reconnect schedule after a crash, through a real client on fake timers: while nothing answers the
// client probes often (connection refused costs the server nothing); once the server answers with a slot
// (close 4003 and a retry hint) the client comes back at that slot, never earlier and barely later.
import { CloseCode, formatRetryAfterReason } from '@holdfast/protocol'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { createClient, type HoldfastClient } from '../../src'
import { seededRandom } from '../helpers/seededRandom'

type Phase =
  | { kind: 'down' }
  | { kind: 'hanging' }
  | { kind: 'refusing'; hintMs: () => number }
  | { kind: 'up' }

/** What the scripted server did with each connection attempt, by time. */
interface Attempt {
  /** The socket's URL: each client of a test has its own. */
  url: string
  at: number
  outcome?: 'refused' | 'slot' | 'welcome' | 'silence'
  hintMs?: number
  endedAt?: number
}

/**
 * A WebSocket whose server is a script: `down` fails like a refused TCP connect (error, then close 1006,
 * never open), `hanging` opens and never answers (an overloaded server), `refusing` answers `connect` with
 * close 4003 and a slot, `up` welcomes.
 */
function scriptedServer() {
  const state = { phase: { kind: 'down' } as Phase, attempts: [] as Attempt[] }
  class ScriptedSocket extends EventTarget {
    static readonly CONNECTING = 0
    static readonly OPEN = 1
    static readonly CLOSING = 2
    static readonly CLOSED = 3
    readyState = 0
    protocol = 'holdfast.v1'
    binaryType = 'blob'
    readonly #attempt: Attempt

    constructor(url: string, _protocols?: string | string[]) {
      super()
      this.#attempt = { url, at: Date.now() }
      state.attempts.push(this.#attempt)
      const phase = state.phase
      setTimeout(() => {
        if (this.readyState !== 0) return
        if (phase.kind === 'down') {
          this.#attempt.outcome = 'refused'
          this.#end('error', 1006)
        } else {
          this.readyState = 1
          this.dispatchEvent(new Event('open'))
        }
      }, 1)
    }

    send(data: string): void {
      if (JSON.parse(data).type !== 'connect') return
      const phase = state.phase
      if (phase.kind === 'hanging') this.#attempt.outcome = 'silence'
      else if (phase.kind === 'refusing') {
        const hintMs = phase.hintMs()
        Object.assign(this.#attempt, { outcome: 'slot', hintMs })
        setTimeout(() => this.#end('close', CloseCode.RateLimited, formatRetryAfterReason(hintMs)), 1)
      } else {
        this.#attempt.outcome = 'welcome'
        const welcome = JSON.stringify({ type: 'welcome', session: 's', maxMessageBytes: 1024 })
        setTimeout(() => this.dispatchEvent(Object.assign(new Event('message'), { data: welcome })), 1)
      }
    }

    close(): void {
      if (this.readyState !== 3) this.#attempt.endedAt ??= Date.now()
      this.readyState = 3
    }

    #end(kind: 'error' | 'close', code: number, reason = ''): void {
      this.#attempt.endedAt = Date.now()
      if (kind === 'error')
        this.dispatchEvent(
          Object.assign(new Event('error'), { message: 'connect ECONNREFUSED 127.0.0.1:80' }),
        )
      if (this.readyState === 3) return
      this.readyState = 3
      this.dispatchEvent(Object.assign(new Event('close'), { code, reason, wasClean: kind === 'close' }))
    }
  }
  return { state, WebSocket: ScriptedSocket }
}

const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms)
let clients: HoldfastClient[] = []

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  for (const c of clients) c.close()
  clients = []
  vi.useRealTimers()
})

function clientOf(server: ReturnType<typeof scriptedServer>, seed: number) {
  const client = createClient({
    url: `http://holdfast.test/c${seed}`,
    WebSocket: server.WebSocket,
    transports: ['websocket'],
    heartbeat: false,
    onOnline: false,
    lazy: false,
    random: seededRandom(seed),
  })
  clients.push(client)
  return client
}

describe('after a crash, with the default backoff', () => {
  test('a client probes an unreachable server at least every 2 s, however long it stays down, and is back within 2 s of it', async () => {
    const server = scriptedServer()
    for (let seed = 1; seed <= 10; seed++) clientOf(server, seed)
    await tick(5 * 60_000)
    const refused = server.state.attempts.filter((a) => a.outcome === 'refused')
    expect(refused.length).toBe(server.state.attempts.length)
    for (const url of new Set(refused.map((a) => a.url))) {
      const mine = refused.filter((a) => a.url === url)
      const waits = mine.slice(1).map((a, i) => a.at - mine[i]!.endedAt!)
      expect(Math.max(...waits)).toBeLessThanOrEqual(2000)
      // With the old cap (maxMs, 30 s) a client tries about 15 times in five minutes; here once a second.
      expect(mine.length).toBeGreaterThan(200)
    }

    server.state.phase = { kind: 'up' }
    const backAt = Date.now()
    await tick(2000 + 10)
    expect(clients.map((c) => c.state.status)).toEqual(Array(10).fill('connected'))
    const welcomed = server.state.attempts.filter((a) => a.outcome === 'welcome')
    expect(Math.max(...welcomed.map((a) => a.at)) - backAt).toBeLessThanOrEqual(2000)
  })

  test('a refused client comes back at its slot: never earlier, at most initialMs (500) later, however many attempts failed before', async () => {
    const server = scriptedServer()
    const client = clientOf(server, 7)
    // A minute of refused connects first: the attempt count is high, the exponential ceiling at its cap.
    await tick(60_000)
    const hints = [4000, 250, 9000, 1200, 30_000, 3000]
    let next = 0
    server.state.phase = { kind: 'refusing', hintMs: () => hints[next++]! }
    await tick(2000)
    for (let i = 0; i < hints.length - 1; i++) {
      const slot = server.state.attempts.find((a) => a.hintMs === hints[i])
      expect(slot?.endedAt).toBeDefined()
      await tick(hints[i]! + 500 + 10)
    }
    server.state.phase = { kind: 'up' }
    await tick(hints.at(-1)! + 500 + 10)
    expect(client.state.status).toBe('connected')

    const slots = server.state.attempts.filter((a) => a.outcome === 'slot')
    expect(slots.map((a) => a.hintMs)).toEqual(hints)
    const after = (a: Attempt) => server.state.attempts[server.state.attempts.indexOf(a) + 1]!
    for (const slot of slots) {
      const returnedAfterMs = after(slot).at - slot.endedAt!
      expect(returnedAfterMs).toBeGreaterThanOrEqual(slot.hintMs!)
      expect(returnedAfterMs).toBeLessThanOrEqual(slot.hintMs! + 500)
    }
  })

  test('an outage does not make the next slow answer cost a long wait: probes do not grow the backoff', async () => {
    const server = scriptedServer()
    for (let seed = 1; seed <= 10; seed++) clientOf(server, seed)
    // A minute of refused connects: about 60 tries each.
    await tick(60_000)
    // Back, but too busy to answer: each try times out (no welcome within openTimeoutMs, 3 s).
    server.state.phase = { kind: 'hanging' }
    await tick(2000 + 3000 + 1000)
    for (let seed = 1; seed <= 10; seed++) {
      const mine = server.state.attempts.filter((a) => a.url.includes(`/c${seed}/`))
      const first = mine.findIndex((a) => a.outcome === 'silence')
      expect(mine[first]?.endedAt).toBeDefined()
      // The first failure that reached the server waits at most initialMs (the start of the ramp), not up to
      // maxMs as sixty doublings would say.
      expect(mine[first + 1]!.at - mine[first]!.endedAt!).toBeLessThanOrEqual(500)
    }
  })
})
