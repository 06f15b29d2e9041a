import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { type BrowserContext, expect, type Page, test } from '@playwright/test'
import { type RunningProcess, repoRoot, startNodeProcess } from '../fixtures/processes'

// One connection for all tabs, and delivery that survives a reload (@holdfast/client/tabs), in real Chromium:
// every test opens its tabs in one browser context, against the reference server with auth on.

const SECRET = 'e2e-tabs-secret-e2e-tabs-secret-e2e-tabs'
const IIFE = join(repoRoot, 'packages/client/dist/holdfast.tabs.global.js')
/** The documented hand-off bound: a frozen leader is replaced within this (closed or crashed: sooner). */
const HANDOFF_BOUND_MS = 3500

type Win = {
  received: number[]
  events: Array<{ at: number; role?: string; status?: string }>
  roles: string[]
  errors: string[]
  subscribed: number
  client: {
    role: string
    state: { status: string }
    flush(): Promise<void>
    restored: Promise<Array<{ result?: { cursor: string; duplicate: boolean }; error?: unknown }>>
  }
  publishFromPage(
    channel: string,
    n: unknown,
  ): Promise<{ cursor: string; duplicate: boolean; error?: string }>
}

let server: RunningProcess
let channels = 0

test.beforeAll(async () => {
  server = await startNodeProcess(
    (port) => [
      'packages/server/dist/cli.js',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--static',
      join(repoRoot, 'e2e/pages'),
    ],
    /\] listening/,
    { HOLDFAST_SECRET: SECRET },
  )
})
test.afterAll(async () => {
  await server?.stop()
})

function token(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`
}

/** A user of its own per test, so tests never share a leader through leftover tabs. */
const newUser = () => `tabs-user-${process.pid}-${++channels}`

/** Serves the tabs IIFE to every page of the context; `hold` keeps it back until it resolves. */
async function serveClient(context: BrowserContext, hold?: () => Promise<void> | undefined) {
  await context.route('**/holdfast.tabs.global.js', async (route) => {
    await hold?.()
    await route.fulfill({ path: IIFE, contentType: 'text/javascript' })
  })
}

async function openTab(context: BrowserContext, user: string, channel: string, extra = ''): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (error) => console.error(`[tabs page] ${error.message}`))
  await page.goto(`${server.url}/tabs.html?token=${token(user)}&channel=${channel}${extra}`)
  await page.waitForFunction(
    () => {
      const w = window as unknown as Win
      return w.client.state.status === 'connected' && w.subscribed > 0
    },
    undefined,
    { polling: 50 },
  )
  return page
}

/** Runs `fn` on the page's window (serialised: it may use nothing from this file). */
const win = <T>(page: Page, fn: (w: Win) => T) =>
  page.evaluate(`(${fn.toString()})(window)`) as Promise<Awaited<T>>
const roleOf = (page: Page) => win(page, (w) => w.client.role)
const receivedOf = (page: Page) => win(page, (w) => w.received)

/**
 * Publishes `{ n }` as a backend would. Keyed, so the one retry (after Node's fetch reuses a keep-alive socket
 * the server just closed) cannot store it twice.
 */
async function publish(user: string, channel: string, n: unknown): Promise<string> {
  const send = () =>
    fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token(user)}`,
        'idempotency-key': `e2e-${channel}-${n}`,
      },
      body: JSON.stringify({ channel, data: { n } }),
    })
  const response = await send().catch(send)
  expect(response.status).toBe(200)
  return ((await response.json()) as { cursor: string }).cursor
}

/** Everything the server keeps for `channel`, oldest first, read with a long poll from the epoch's start. */
async function history(
  user: string,
  channel: string,
): Promise<Array<{ cursor: string; data: { n: unknown } }>> {
  const headers = { authorization: `Bearer ${token(user)}` }
  const first = (await (
    await fetch(`${server.url}/poll?channel=${channel}&timeoutMs=0`, { headers })
  ).json()) as { subscribed: Array<{ epoch: string }> }
  const epoch = first.subscribed[0]!.epoch
  const all = (await (
    await fetch(`${server.url}/poll?channel=${channel}&since=${channel}=${epoch}:0&timeoutMs=0`, { headers })
  ).json()) as { messages: Array<{ cursor: string; data: { n: unknown } }> }
  return all.messages
}

async function websocketConnections(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  return Number(/^holdfast_connections\{transport="websocket"\} (\d+)$/m.exec(text)?.[1])
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/**
 * Publishes 1, 2, 3, … one after the other until stopped (each waits for the server's answer), so messages
 * keep coming while tabs hand over. Resolves with how many it published.
 */
function keepPublishing(user: string, channel: string) {
  let stop = false
  let n = 0
  const done = (async () => {
    while (!stop) await publish(user, channel, ++n)
    return n
  })()
  return {
    stop: () => {
      stop = true
      return done
    },
    get count() {
      return n
    },
  }
}

test('three tabs share one connection; every tab gets every message once, in order', async ({ context }) => {
  await serveClient(context)
  const user = newUser()
  const channel = `tabs.three.${channels}`
  const tabs = [
    await openTab(context, user, channel),
    await openTab(context, user, channel),
    await openTab(context, user, channel),
  ]
  expect(await Promise.all(tabs.map(roleOf))).toEqual(['leader', 'follower', 'follower'])
  for (const n of range(1, 30)) await publish(user, channel, n)
  for (const tab of tabs) await expect.poll(() => receivedOf(tab)).toHaveLength(30)
  for (const tab of tabs) expect(await receivedOf(tab)).toEqual(range(1, 30))
  expect(await websocketConnections()).toBe(1)
})

for (const how of ['closed', 'crashed'] as const) {
  test(`the leader tab is ${how}: a new leader takes over within the bound; the others miss nothing, see nothing twice`, async ({
    context,
  }) => {
    await serveClient(context)
    const user = newUser()
    const channel = `tabs.handoff.${how}.${channels}`
    const [leader, ...followers] = [
      await openTab(context, user, channel),
      await openTab(context, user, channel),
      await openTab(context, user, channel),
    ]
    expect(await roleOf(leader!)).toBe('leader')
    const publisher = keepPublishing(user, channel)
    await expect.poll(() => receivedOf(followers[0]!).then((r) => r.length)).toBeGreaterThan(20)
    const goneAt = Date.now()
    if (how === 'closed') await leader!.close()
    else {
      const cdp = await context.newCDPSession(leader!)
      void cdp.send('Page.crash').catch(() => {})
    }
    // The next tab in the lock's queue leads, and every tab is connected through it again: measured in the
    // pages (their clocks are this machine's), from just before the leader went.
    const times = await Promise.all(
      followers.map(async (tab) => {
        await tab.waitForFunction(
          (since) => (window as unknown as Win).events.some((e) => e.at >= since && e.status === 'connected'),
          goneAt,
          { polling: 50, timeout: 20_000 },
        )
        return tab.evaluate(
          (since) =>
            (window as unknown as Win).events.find((e) => e.at >= since && e.status === 'connected')!.at,
          goneAt,
        )
      }),
    )
    const leadAt = await Promise.all(
      followers.map((tab) =>
        tab.evaluate(
          (since) => (window as unknown as Win).events.find((e) => e.at >= since && e.role === 'leader')?.at,
          goneAt,
        ),
      ),
    )
    const takeoverMs = Math.min(...leadAt.filter((at): at is number => at !== undefined)) - goneAt
    const handoffMs = Math.max(...times) - goneAt
    console.log(
      `leader ${how}: a new leader after ${takeoverMs} ms, every other tab connected through it after ${handoffMs} ms`,
    )
    expect(takeoverMs).toBeLessThan(HANDOFF_BOUND_MS)
    const atHandoff = publisher.count
    await expect.poll(() => receivedOf(followers[0]!).then((r) => r.length)).toBeGreaterThan(atHandoff + 20)
    const total = await publisher.stop()
    for (const tab of followers) await expect.poll(() => receivedOf(tab)).toHaveLength(total)
    for (const tab of followers) expect(await receivedOf(tab)).toEqual(range(1, total))
    expect(await Promise.all(followers.map(roleOf)).then((r) => r.sort())).toEqual(['follower', 'leader'])
    await expect.poll(websocketConnections).toBe(1)
  })
}

test('a publish made in a follower resolves there with the server cursor, also across a hand-off', async ({
  context,
}) => {
  await serveClient(context)
  const user = newUser()
  const channel = `tabs.publish.${channels}`
  // The first tab leads; its socket goes through a route that can lose the server's acknowledgements.
  let dropAcks = false
  const first = await context.newPage()
  await first.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer()
    upstream.onMessage((message) => {
      if (dropAcks && String(message).includes('"type":"ack"')) return
      ws.send(message)
    })
  })
  await first.goto(`${server.url}/tabs.html?token=${token(user)}&channel=${channel}`)
  await first.waitForFunction(
    () => (window as unknown as Win).client.state.status === 'connected',
    undefined,
    {
      polling: 50,
    },
  )
  const follower = await openTab(context, user, channel)
  const third = await openTab(context, user, channel)
  expect(await roleOf(first)).toBe('leader')

  const result = await follower.evaluate(
    (ch) => (window as unknown as Win).publishFromPage(ch, 'plain'),
    channel,
  )
  expect(result).toEqual({ cursor: (await history(user, channel)).at(-1)!.cursor, duplicate: false })

  dropAcks = true
  const pending = follower.evaluate(
    (ch) => (window as unknown as Win).publishFromPage(ch, 'in flight'),
    channel,
  )
  // Stored by the server, but the acknowledgement never reaches the leader.
  await expect.poll(async () => (await history(user, channel)).map((m) => m.data.n)).toContain('in flight')
  await first.close()
  const across = await pending
  const stored = (await history(user, channel)).filter((m) => m.data.n === 'in flight')
  expect(stored).toHaveLength(1)
  expect(across).toEqual({ cursor: stored[0]!.cursor, duplicate: true })
  expect(await Promise.all([follower, third].map(roleOf)).then((r) => r.sort())).toEqual([
    'follower',
    'leader',
  ])
})

test('reload with persist: what is published during the reload arrives once; a publish pending at the reload is stored once', async ({
  context,
}) => {
  let release: (() => void) | undefined
  let held: (() => void) | undefined
  const scriptRequested = new Promise<void>((resolve) => (held = resolve))
  await serveClient(context, () => {
    if (!release) return undefined
    held!()
    return new Promise<void>((resolve) => (release = resolve))
  })
  const user = newUser()
  const channel = `tabs.reload.${channels}`
  const outbox = `${channel}.outbox`
  const page = await context.newPage()
  let dropAcks = false
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer()
    upstream.onMessage((message) => {
      if (dropAcks && String(message).includes('"type":"ack"')) return
      ws.send(message)
    })
  })
  await page.goto(`${server.url}/tabs.html?token=${token(user)}&channel=${channel}&persist`)
  await page.waitForFunction(() => (window as unknown as Win).subscribed > 0, undefined, { polling: 50 })
  for (const n of range(1, 10)) await publish(user, channel, n)
  await expect.poll(() => receivedOf(page)).toEqual(range(1, 10))

  dropAcks = true
  // Never answered on this page: the reload destroys it mid-call.
  page.evaluate((ch) => (window as unknown as Win).publishFromPage(ch, 'pending'), outbox).catch(() => {})
  await expect.poll(async () => (await history(user, outbox)).length).toBe(1)
  await win(page, (w) => w.client.flush())

  // Reload; once the new page asks for the client script (the old page is gone), publish, then let it load.
  dropAcks = false
  release = () => {}
  const reloading = page.reload()
  await scriptRequested
  for (const n of range(11, 20)) await publish(user, channel, n)
  release()
  await reloading
  await page.waitForFunction(
    () => (window as unknown as Win).client.state.status === 'connected',
    undefined,
    {
      polling: 50,
    },
  )
  await expect.poll(() => receivedOf(page)).toEqual(range(11, 20))
  const restored = await win(page, (w) => w.client.restored)
  const stored = await history(user, outbox)
  expect(stored.map((m) => m.data.n)).toEqual(['pending'])
  expect(restored).toEqual([
    expect.objectContaining({ result: { cursor: stored[0]!.cursor, duplicate: true } }),
  ])
})
