import { expect, test } from '@playwright/test'
import { type RunningProcess, startDemo } from '../fixtures/processes'

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
  await expect(page.getByTestId('feed').locator('li').first()).toContainText('Notification #')
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
  // The control panel's event log shows the drop and the way back.
  await expect(page.getByTestId('events')).toContainText('reconnecting')
  await expect(page.getByTestId('connection-status')).toHaveText('connected')
  await expect.poll(seq).toBeGreaterThan(after + 20)
})

test('a script-tag page (IIFE global Holdfast) subscribes and renders messages', async ({ page }) => {
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`${demo.url}/cdn.html`)
  await expect(page.locator('#messages li').first()).toContainText('Headline')
  expect(await page.evaluate(() => typeof (window as unknown as { Holdfast: unknown }).Holdfast)).toBe(
    'object',
  )
  expect(errors).toEqual([])
})
