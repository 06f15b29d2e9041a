import { expect, test } from '@playwright/test'
import { type RunningProcess, startDemo } from '../fixtures/processes'

let demo: RunningProcess
test.beforeAll(async () => {
  demo = await startDemo()
})
test.afterAll(async () => {
  await demo?.stop()
})

test('two pages chat over WebSocket; the server restarts; both reconnect and the chat continues', async ({
  browser,
}) => {
  const alice = await browser.newPage()
  const bob = await browser.newPage()
  await alice.goto(`${demo.url}/?user=alice`)
  await bob.goto(`${demo.url}/?user=bob`)
  for (const page of [alice, bob]) {
    await expect(page.getByTestId('connection-status')).toHaveText('connected')
    await expect(page.getByTestId('connection-transport')).toHaveText('websocket')
  }
  await expect(alice.getByTestId('online')).toContainText(/alice.*bob/)

  await alice.getByTestId('chat-input').fill('hello from alice')
  await alice.getByTestId('chat-send').click()
  await expect(bob.getByTestId('chat-log')).toContainText('alice: hello from alice')

  const sawReconnecting = [alice, bob].map((page) =>
    page.waitForFunction(
      () => {
        const status = document.querySelector('[data-testid="connection-status"]')?.textContent
        return status === 'reconnecting' || status === 'connecting'
      },
      undefined,
      { polling: 10 },
    ),
  )
  await demo.restart()
  await Promise.all(sawReconnecting)
  for (const page of [alice, bob]) await expect(page.getByTestId('connection-status')).toHaveText('connected')

  await bob.getByTestId('chat-input').fill('bob is back')
  await bob.getByTestId('chat-send').click()
  await expect(alice.getByTestId('chat-log')).toContainText('bob: bob is back')
})
