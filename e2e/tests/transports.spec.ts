import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { createChaosProxy } from '../../packages/client/test/helpers/chaosProxy'
import { type RunningProcess, repoRoot, startDemo, startNodeProcess } from '../fixtures/processes'

let demo: RunningProcess
test.beforeAll(async () => {
  demo = await startDemo()
})
test.afterAll(async () => {
  await demo?.stop()
})

test('the notification feed arrives over SSE', async ({ page }) => {
  await page.goto(demo.url)
  await expect(page.getByTestId('feed-transport')).toHaveText('sse')
  await expect(page.getByTestId('feed').locator('li').first()).toContainText('Notification #', {
    timeout: 10_000,
  })
})

test('with WebSocket blocked by the server, the demo keeps working through fallback', async ({
  page,
  request,
}) => {
  await request.post(`${demo.url}/demo/websocket?blocked=true`)
  try {
    await page.goto(`${demo.url}/?user=carol`)
    await expect(page.getByTestId('connection-status')).toHaveText('connected')
    await expect(page.getByTestId('connection-transport')).toHaveText('sse')
    await page.getByTestId('chat-input').fill('via fallback')
    await page.getByTestId('chat-send').click()
    await expect(page.getByTestId('chat-log')).toContainText('carol: via fallback')
    await page.screenshot({ path: join(repoRoot, 'docs/screenshots/demo-fallback.png') })
  } finally {
    await request.post(`${demo.url}/demo/websocket?blocked=false`)
  }
})

test('the live chart keeps moving while connections are dropped', async ({ page, request }) => {
  await page.goto(demo.url)
  await expect(page.getByTestId('connection-status')).toHaveText('connected')
  const seq = async () => Number(await page.getByTestId('chart-seq').textContent())
  await expect.poll(seq).toBeGreaterThan(0)
  await request.post(`${demo.url}/demo/drop`)
  const after = await seq()
  await expect(page.getByTestId('connection-status')).toHaveText('connected')
  await expect.poll(seq).toBeGreaterThan(after + 20)
})

test('a script-tag page (IIFE global Holdfast) subscribes and renders messages', async ({ page }) => {
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${demo.url}/cdn.html`)
  await expect(page.locator('#messages li').first()).toContainText('Headline', { timeout: 10_000 })
  expect(await page.evaluate(() => typeof (window as unknown as { Holdfast: unknown }).Holdfast)).toBe(
    'object',
  )
  expect(errors).toEqual([])
})

test('a plain browser EventSource resumes through Last-Event-ID after the connection drops, losing nothing', async ({
  page,
}) => {
  // An open-mode reference server (EventSource cannot send an Authorization header) behind a proxy that can cut it.
  const open = await startNodeProcess(
    (port) => [
      'packages/server/dist/cli.js',
      '--port',
      String(port),
      '--static',
      join(repoRoot, 'e2e/pages'),
    ],
    /listening on/,
  )
  const proxy = await createChaosProxy({ port: open.port })
  type Win = { received: number[]; opened: number }
  try {
    await page.goto(`${proxy.url}/native-eventsource.html`)
    await page.waitForFunction(() => (window as unknown as Win).opened >= 1)
    const publish = async (from: number, to: number) => {
      for (let n = from; n <= to; n++) {
        const response = await fetch(`${open.url}/publish`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `n-${n}` },
          body: JSON.stringify({ channel: 'native', data: { n } }),
        })
        expect(response.status).toBe(200)
      }
    }
    await publish(1, 20)
    await page.waitForFunction(() => (window as unknown as Win).received.length >= 20)
    expect(proxy.dropAll()).toBeGreaterThan(0)
    await publish(21, 30) // while the browser waits out retry: before reconnecting
    await page.waitForFunction(() => (window as unknown as Win).opened >= 2, undefined, { timeout: 20_000 })
    await publish(31, 40)
    await page.waitForFunction(() => (window as unknown as Win).received.length >= 40, undefined, {
      timeout: 20_000,
    })
    expect(await page.evaluate(() => (window as unknown as Win).received)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    )
  } finally {
    await proxy.close()
    await open.stop()
  }
})
