import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, expect, type Page, test } from '@playwright/test'
import {
  bindConfig,
  documentedConfig,
  findNginx,
  NAIVE_CONFIG,
  type RunningNginx,
  startNginx,
} from '../fixtures/nginx'
import { type RunningProcess, repoRoot, startNodeProcess } from '../fixtures/processes'

// Debian's nginx in front of the reference server, with the config docs/proxies.md shows (read from the
// doc) and with a bare proxy_pass, driving a real client in Chromium through each.
const nginxBin = findNginx()
const MISSING =
  '[e2e] nginx is missing: the nginx tests are SKIPPED. Install it with: sudo apt-get install -y nginx (or set NGINX_BIN)'
if (!nginxBin && !process.env.CI) console.warn(MISSING)
test.skip(!nginxBin && !process.env.CI, MISSING)

type Transport = 'websocket' | 'sse' | 'longpoll'
type Win = {
  received: number[]
  states: Array<{ status: string; transport?: string }>
  errors: string[]
  publishFromPage: (n: number) => Promise<string>
}

let server: RunningProcess
let staticDir: string
let channelCount = 0

test.beforeAll(async () => {
  if (!nginxBin)
    throw new Error('[e2e] nginx is missing and CI must run these tests: apt-get install -y nginx')
  staticDir = mkdtempSync(join(tmpdir(), 'holdfast-proxy-page-'))
  copyFileSync(join(repoRoot, 'e2e/pages/behind-proxy.html'), join(staticDir, 'behind-proxy.html'))
  copyFileSync(
    join(repoRoot, 'packages/client/dist/holdfast.global.js'),
    join(staticDir, 'holdfast.global.js'),
  )
  // Open mode and the default origin check: the page must reach it same-origin, through nginx.
  server = await startNodeProcess(
    (port) => [
      'packages/server/dist/cli.js',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--static',
      staticDir,
    ],
    /\] listening/,
  )
})

test.afterAll(async () => {
  await server?.stop()
  if (staticDir) rmSync(staticDir, { recursive: true, force: true })
})

/** Opens the test page through nginx with a fresh channel. */
async function openPage(page: Page, proxy: RunningNginx, transports: Transport[]) {
  const channel = `proxy.${process.pid}.${++channelCount}`
  await page.goto(
    `${proxy.url}/holdfast/behind-proxy.html?transports=${transports.join(',')}&channel=${channel}`,
  )
  return channel
}

function connectedOn(page: Page, transport: Transport) {
  return expect
    .poll(() => page.evaluate(() => (window as unknown as Win).states.at(-1)), { timeout: 20_000 })
    .toEqual({ status: 'connected', transport })
}

/** Publishes `{ n }` for n in from..to through nginx, as a backend behind the same proxy would. */
async function publish(proxy: RunningNginx, channel: string, from: number, to: number) {
  for (let n = from; n <= to; n++) {
    const response = await fetch(`${proxy.url}/holdfast/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `${channel}-${n}` },
      body: JSON.stringify({ channel, data: { n } }),
    })
    expect(response.status).toBe(200)
  }
}

/** The page received exactly 1..n, each once, in order. */
function receivedExactly(page: Page, n: number) {
  return expect
    .poll(() => page.evaluate(() => (window as unknown as Win).received), { timeout: 20_000 })
    .toEqual(Array.from({ length: n }, (_, i) => i + 1))
}

test.describe('the config from docs/proxies.md', () => {
  let proxy: RunningNginx
  test.beforeAll(async () => {
    proxy = await startNginx(nginxBin!, documentedConfig(), server.port)
  })
  test.afterAll(async () => {
    await proxy?.stop()
  })

  for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
    test(`${transport}: every message arrives once, in order, and the page can publish`, async ({ page }) => {
      const channel = await openPage(page, proxy, [transport])
      await connectedOn(page, transport)
      await publish(proxy, channel, 1, 20)
      expect(await page.evaluate(() => (window as unknown as Win).publishFromPage(21))).toBe('ok')
      await publish(proxy, channel, 22, 25)
      await receivedExactly(page, 25)
    })
  }

  test('nginx -s reload: old workers cut open streams after worker_shutdown_timeout, and clients resume without loss', async ({
    browser,
  }) => {
    test.setTimeout(120_000)
    const pages = await openPages(browser, 2)
    const channels = [
      await openPage(pages[0]!, proxy, ['websocket']),
      await openPage(pages[1]!, proxy, ['sse']),
    ]
    await connectedOn(pages[0]!, 'websocket')
    await connectedOn(pages[1]!, 'sse')
    for (const [i, channel] of channels.entries()) {
      await publish(proxy, channel, 1, 5)
      await receivedExactly(pages[i]!, 5)
    }
    const oldWorkers = proxy.workers()
    expect(oldWorkers.length).toBeGreaterThan(0)
    proxy.reload()
    // The old workers hold the two streams; with worker_shutdown_timeout they go, and take the streams along.
    await expect
      .poll(() => proxy.workers().filter((pid) => oldWorkers.includes(pid)), { timeout: 60_000 })
      .toEqual([])
    for (const [i, channel] of channels.entries()) {
      await publish(proxy, channel, 6, 10)
      await receivedExactly(pages[i]!, 10)
      const states = await pages[i]!.evaluate(() => (window as unknown as Win).states.map((s) => s.status))
      // Connected, cut by the old worker, connected again through a new one.
      expect(states.filter((s) => s === 'connected').length).toBeGreaterThanOrEqual(2)
    }
    for (const page of pages) await page.close()
  })
})

test.describe('the config from docs/proxies.md with Host $host (no port)', () => {
  let proxy: RunningNginx
  test.beforeAll(async () => {
    const withHost = documentedConfig().replace(
      'proxy_set_header Host $http_host;',
      'proxy_set_header Host $host;',
    )
    expect(withHost).not.toBe(documentedConfig())
    proxy = await startNginx(nginxBin!, withHost, server.port)
  })
  test.afterAll(async () => {
    await proxy?.stop()
  })

  test('the origin check refuses the page: no WebSocket, the client runs on SSE, and publish is forbidden', async ({
    page,
  }) => {
    await openPage(page, proxy, ['websocket', 'sse'])
    await connectedOn(page, 'sse')
    const states = await page.evaluate(() => (window as unknown as Win).states)
    expect(states).not.toContainEqual({ status: 'connected', transport: 'websocket' })
    expect(await page.evaluate(() => (window as unknown as Win).publishFromPage(1))).toBe('forbidden')
  })
})

test.describe('a bare proxy_pass', () => {
  let proxy: RunningNginx
  test.beforeAll(async () => {
    proxy = await startNginx(nginxBin!, NAIVE_CONFIG, server.port)
  })
  test.afterAll(async () => {
    await proxy?.stop()
  })

  test('no WebSocket gets through: the client falls back to SSE, and a page publish is refused (403)', async ({
    page,
  }) => {
    await openPage(page, proxy, ['websocket', 'sse'])
    await connectedOn(page, 'sse')
    const states = await page.evaluate(() => (window as unknown as Win).states)
    expect(states).not.toContainEqual({ status: 'connected', transport: 'websocket' })
    expect(await page.evaluate(() => (window as unknown as Win).publishFromPage(1))).toBe('forbidden')
  })

  for (const transport of ['sse', 'longpoll'] as const) {
    test(`${transport} still delivers every message once, in order`, async ({ page }) => {
      const channel = await openPage(page, proxy, [transport])
      await connectedOn(page, transport)
      await publish(proxy, channel, 1, 20)
      await receivedExactly(page, 20)
    })
  }
})

test('the doc block is what the suite runs: one listen line, one upstream address, nothing else changed', () => {
  const doc = documentedConfig()
  const bound = bindConfig(doc, 1234, 5678)
  expect(bound).toContain('listen 127.0.0.1:1234;')
  expect(bound).toContain('server 127.0.0.1:5678;')
  expect(
    bound.replace('listen 127.0.0.1:1234;', 'listen 80;').replace('127.0.0.1:5678', '127.0.0.1:8080'),
  ).toBe(doc)
  for (const line of [
    'worker_shutdown_timeout',
    'proxy_set_header Host $http_host;',
    'upstream holdfast_upstream',
    'map $http_upgrade $connection_upgrade',
  ])
    expect(doc).toContain(line)
})

async function openPages(browser: Browser, count: number): Promise<Page[]> {
  const context = await browser.newContext()
  return Promise.all(Array.from({ length: count }, () => context.newPage()))
}
