import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { createChaosProxy } from '../../packages/client/test/helpers/chaosProxy'
import { repoRoot, startNodeProcess } from '../fixtures/processes'

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
    /\] listening/,
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
    await page.waitForFunction(() => (window as unknown as Win).opened >= 2)
    await publish(31, 40)
    await page.waitForFunction(() => (window as unknown as Win).received.length >= 40)
    expect(await page.evaluate(() => (window as unknown as Win).received)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    )
  } finally {
    await proxy.close()
    await open.stop()
  }
})
