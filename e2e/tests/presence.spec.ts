import { type Browser, expect, type Page, test } from '@playwright/test'
import { type RunningProcess, startDemo } from '../fixtures/processes'

// Who is online in the demo's chat, from presence (@holdfast/client/presence), in real Chromium: pages see
// each other, and a page that goes is seen leaving, within the documented bound, whether it closed or
// vanished without a word.

/** The demo's presence grace here (`--presence-grace-ms`): how long a member outlives its connection. */
const GRACE_MS = 3000
/** The server sweeps for members whose time ran out this often (`presence.sweepIntervalMs`, default). */
const SWEEP_MS = 1000
/**
 * The documented bound (PROTOCOL.md §8, ServerOptions `presence.graceMs`): a member whose connection went
 * away leaves within the grace plus one sweep. A page that closes says so and leaves at once. The test
 * allows three more seconds for the leave to reach the other page and be seen there on a busy machine (on
 * a 2-core machine at load 16 a crashed tab was seen gone after 4.4 to 5.5 s with a 3 s grace).
 */
const LEAVE_BOUND_MS = GRACE_MS + SWEEP_MS + 3000

let demo: RunningProcess
test.beforeAll(async () => {
  demo = await startDemo(['--presence-grace-ms', String(GRACE_MS)])
})
test.afterAll(async () => {
  await demo?.stop()
})

/** Opens the demo as `user` and waits until the page is in its own online list (entered, and live). */
async function open(browser: Browser, user: string): Promise<Page> {
  const page = await browser.newPage()
  page.on('pageerror', (error) => console.error(`[${user}] ${error.message}`))
  await page.goto(`${demo.url}/?user=${user}`)
  await expect(page.getByTestId('connection-status')).toHaveText('connected')
  await expect(page.getByTestId('online-user').filter({ hasText: user })).toHaveCount(1)
  return page
}

const onlineOf = (page: Page) => page.getByTestId('online-user').allTextContents()

/** Waits until `page` shows `user` gone (the "left" line and the list); returns when, by this clock. */
async function seenLeaving(page: Page, user: string): Promise<number> {
  await page.waitForFunction(
    (name) => {
      const lines = [...document.querySelectorAll('[data-testid="presence-notice"]')].map(
        (e) => e.textContent,
      )
      const online = [...document.querySelectorAll('[data-testid="online-user"]')].map((e) => e.textContent)
      return lines.includes(`${name} left`) && !online.includes(name)
    },
    user,
    { polling: 50, timeout: 30_000 },
  )
  return Date.now()
}

test('two pages see each other online; one closes, the other sees it leave within the bound', async ({
  browser,
}) => {
  const alice = await open(browser, 'alice')
  const bob = await open(browser, 'bob')
  // Alice was here first: bob's arrival is a join line for her; for bob, alice was already here.
  await expect(alice.getByTestId('presence-notice').filter({ hasText: 'bob joined' })).toHaveCount(1)
  await expect(bob.getByTestId('presence-notice')).toHaveCount(0)
  for (const page of [alice, bob]) {
    await expect(page.getByTestId('online')).toContainText('Online (2)')
    await expect.poll(() => onlineOf(page)).toEqual(['alice', 'bob'])
  }

  const closedAt = Date.now()
  await bob.close()
  const leftMs = (await seenLeaving(alice, 'bob')) - closedAt
  console.log(`bob closed his tab: alice saw him leave after ${leftMs} ms (bound ${LEAVE_BOUND_MS} ms)`)
  expect(leftMs).toBeLessThan(LEAVE_BOUND_MS)
  await expect(alice.getByTestId('online')).toContainText('Online (1)')
  expect(await onlineOf(alice)).toEqual(['alice'])
  // One line each way, nothing twice.
  await expect(alice.getByTestId('presence-notice')).toHaveText(['bob joined', 'bob left'])
  await alice.close()
})

test('a page that vanishes without a word (its renderer crashed) leaves after the grace, within the bound', async ({
  browser,
}) => {
  const carol = await open(browser, 'carol')
  const dave = await open(browser, 'dave')
  await expect.poll(() => onlineOf(carol)).toEqual(['carol', 'dave'])

  const crashedAt = Date.now()
  const cdp = await dave.context().newCDPSession(dave)
  void cdp.send('Page.crash').catch(() => {})
  const leftMs = (await seenLeaving(carol, 'dave')) - crashedAt
  console.log(`dave's tab crashed: carol saw him leave after ${leftMs} ms (bound ${LEAVE_BOUND_MS} ms)`)
  // No goodbye: the server keeps dave through the grace (a reconnect in it would show nothing), then he goes.
  expect(leftMs).toBeGreaterThanOrEqual(GRACE_MS - 100)
  expect(leftMs).toBeLessThan(LEAVE_BOUND_MS)
  expect(await onlineOf(carol)).toEqual(['carol'])
  await carol.close()
  await dave.close().catch(() => {})
})

test('two tabs of one user are one user online; closing one of them is no leave', async ({ browser }) => {
  const erin = await open(browser, 'erin')
  const frank = await open(browser, 'frank')
  const frank2 = await open(browser, 'frank')
  await expect.poll(() => onlineOf(erin)).toEqual(['erin', 'frank (2 tabs)'])
  await expect(erin.getByTestId('presence-notice')).toHaveText(['frank joined'])

  await frank2.close()
  await expect.poll(() => onlineOf(erin)).toEqual(['erin', 'frank'])
  await frank.getByTestId('chat-input').fill('still here in my first tab')
  await frank.getByTestId('chat-send').click()
  await expect(erin.getByTestId('chat-log')).toContainText('frank: still here in my first tab')
  await expect(erin.getByTestId('presence-notice')).toHaveText(['frank joined'])

  await frank.close()
  await seenLeaving(erin, 'frank')
  await expect(erin.getByTestId('presence-notice')).toHaveText(['frank joined', 'frank left'])
  await erin.close()
})
