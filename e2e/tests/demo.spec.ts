import { type Browser, expect, type Page, test } from '@playwright/test'
import { type RunningProcess, screenshotPath, startDemo } from '../fixtures/processes'

// Every control of the demo, driven as a person would, and what that person sees: the badge, the event log,
// the chat, the claims panel. Conditions only, never durations: a busy machine makes this slower, not red.
// The README's screenshots come from here (HOLDFAST_UPDATE_SCREENSHOTS=1 writes them to docs/screenshots).

test.use({ viewport: { width: 1280, height: 960 } })

async function open(browser: Browser, url: string, user: string): Promise<Page> {
  const page = await browser.newPage()
  await page.goto(`${url}/?user=${user}`)
  await expect(page.getByTestId('connection-status')).toHaveText('connected')
  // The page has its server state (the switches, the chat's start) and its chat subscription is live.
  await expect(page.getByTestId('block-ws')).toBeEnabled()
  // Presence is live and this page is in it: the user is in its own online list.
  await expect(page.getByTestId('online-user').filter({ hasText: user })).toHaveCount(1)
  return page
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text)
  await page.getByTestId('chat-send').click()
}

/** The newest chat line is inside the chat's visible area (the log is scrolled to it). */
async function expectNewestShown(page: Page, text: string): Promise<void> {
  const line = page.getByTestId('chat-log').locator('.message').last()
  await expect(line).toContainText(text)
  await expect(line).toBeInViewport()
  await expect
    .poll(() =>
      page.getByTestId('chat-log').evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight),
    )
    .toBeLessThanOrEqual(16)
}

const number = async (page: Page, testId: string) => Number(await page.getByTestId(testId).textContent())

test.describe('the demo', () => {
  let demo: RunningProcess
  test.beforeAll(async () => {
    demo = await startDemo()
  })
  test.afterAll(async () => {
    await demo?.stop()
  })

  test('chat: the view follows the newest message unless the reader scrolled up; a late joiner sees the history', async ({
    browser,
  }) => {
    const alice = await open(browser, demo.url, 'alice')
    for (let i = 1; i <= 20; i++) await say(alice, `line ${i} from alice`)
    await expectNewestShown(alice, 'line 20 from alice')

    // Bob arrives after all that: he sees the room from its beginning, scrolled to the newest line.
    const bob = await open(browser, demo.url, 'bob')
    await expect(bob.getByTestId('history-note')).toHaveText(/The beginning of the room/)
    await expect(bob.getByTestId('chat-log')).toContainText('alice: line 1 from alice')
    await expectNewestShown(bob, 'line 20 from alice')
    for (const page of [alice, bob]) await expect(page.getByTestId('online')).toContainText(/alice.*bob/)

    // Bob scrolls up to read: new messages do not pull him down, a button says there are more.
    await bob.getByTestId('chat-log').evaluate((el) => el.scrollTo({ top: 0 }))
    await say(alice, 'are you there, bob?')
    await expect(bob.getByTestId('newer-below')).toBeVisible()
    await expect(bob.getByTestId('chat-log').getByText('alice: line 1 from alice')).toBeInViewport()
    await bob.getByTestId('newer-below').click()
    await expectNewestShown(bob, 'are you there, bob?')

    await say(bob, 'hi alice, read it all')
    await expectNewestShown(alice, 'hi alice, read it all')
    await alice.screenshot({ path: screenshotPath('demo-chat.png') })
    await alice.close()
    await bob.close()
  })

  test('Block/Allow WebSocket is the server state in every tab and after a reload; the client falls back and moves back up', async ({
    browser,
  }) => {
    const carol = await open(browser, demo.url, 'carol')
    const dave = await open(browser, demo.url, 'dave')
    try {
      await carol.getByTestId('block-ws').click()
      for (const page of [carol, dave]) {
        await expect(page.getByTestId('block-ws')).toHaveText('Allow WebSocket')
        await expect(page.getByTestId('connection-transport')).toHaveText('sse')
        await expect(page.getByTestId('events')).toContainText('server: WebSocket is blocked now')
        await expect(page.getByTestId('events')).toContainText('fell back from websocket to sse')
        await expect(page.getByTestId('connection-note')).toHaveText('fell back from websocket to sse')
      }
      await dave.reload()
      await expect(dave.getByTestId('block-ws')).toHaveText('Allow WebSocket')
      await expect(dave.getByTestId('connection-status')).toHaveText('connected')
      await expect(dave.getByTestId('connection-transport')).toHaveText('sse')

      await say(carol, 'still here, over SSE')
      await expect(dave.getByTestId('chat-log')).toContainText('carol: still here, over SSE')
      await expectNewestShown(carol, 'still here, over SSE')
      await carol.screenshot({ path: screenshotPath('demo-fallback.png') })

      await dave.getByTestId('block-ws').click()
      for (const page of [carol, dave]) {
        await expect(page.getByTestId('block-ws')).toHaveText('Block WebSocket')
        await expect(page.getByTestId('events')).toContainText('server: WebSocket is allowed again')
      }
      // Moving back up is the client's own probe (sooner or later, by its backoff): wait for it.
      await expect(carol.getByTestId('connection-transport')).toHaveText('websocket', { timeout: 120_000 })
      await expect(carol.getByTestId('events')).toContainText('moved back up from sse to websocket')
    } finally {
      await carol.request.post(`${demo.url}/demo/websocket?blocked=false`)
      await carol.close()
      await dave.close()
    }
  })

  test('Expire token: the server expires this page’s token, the client gets a new one (WebSocket, then SSE)', async ({
    browser,
  }) => {
    const erin = await open(browser, demo.url, 'erin')
    const frank = await open(browser, demo.url, 'frank')
    try {
      await erin.getByTestId('expire-token').click()
      await expect(erin.getByTestId('events')).toContainText("you: the server expired this page's token")
      await expect(erin.getByTestId('events')).toContainText(
        'server closed the connection: token expired (4100',
      )
      await expect(erin.getByTestId('events')).toContainText('reconnected with a new token (websocket)')
      await expect(erin.getByTestId('connection-note')).toHaveText('reconnected with a new token (websocket)')
      await expect(erin.getByTestId('connection-status')).toHaveText('connected')

      // Over SSE the expired token is refused with 401; the client fetches a new one and reconnects.
      await erin.getByTestId('block-ws').click()
      await expect(erin.getByTestId('connection-transport')).toHaveText('sse')
      await erin.getByTestId('expire-token').click()
      await expect(erin.getByTestId('events')).toContainText('reconnected with a new token (sse)')
      await expect(erin.getByTestId('connection-status')).toHaveText('connected')
      await say(erin, 'new token, same chat')
      await expect(frank.getByTestId('chat-log')).toContainText('erin: new token, same chat')

      // Only erin's token was expired.
      await expect(frank.getByTestId('events')).not.toContainText('new token')
      await expect(erin.getByTestId('claims-lost')).toHaveText('0')
      await expect(erin.getByTestId('claims-duplicated')).toHaveText('0')
    } finally {
      await erin.request.post(`${demo.url}/demo/websocket?blocked=false`)
      await erin.close()
      await frank.close()
    }
  })

  test('claims: after ten dropped connections, over WebSocket and SSE, lost 0 and duplicated 0', async ({
    browser,
  }) => {
    const grace = await open(browser, demo.url, 'grace')
    try {
      await expect.poll(() => number(grace, 'claims-seq-received')).toBeGreaterThan(0)
      for (let i = 0; i < 10; i++) {
        if (i === 5) {
          await grace.getByTestId('block-ws').click()
          await expect(grace.getByTestId('connection-transport')).toHaveText('sse')
        }
        const connects = await number(grace, 'claims-connects')
        const last = await number(grace, 'claims-seq-last')
        await grace.getByTestId('drop').click()
        await expect(grace.getByTestId('events')).toContainText('you: dropped every connection')
        await expect.poll(() => number(grace, 'claims-connects')).toBeGreaterThan(connects)
        await expect.poll(() => number(grace, 'claims-seq-last')).toBeGreaterThan(last + 5)
      }
      await expect(grace.getByTestId('claims-lost')).toHaveText('0')
      await expect(grace.getByTestId('claims-duplicated')).toHaveText('0')
      await expect(grace.getByTestId('claims-skipped')).toHaveCount(0)
      await expect(grace.getByTestId('claims-gaps')).toHaveText('0')
      expect(await number(grace, 'claims-switches')).toBeGreaterThan(0)
      expect(await number(grace, 'claims-received')).toBeGreaterThan(
        await number(grace, 'claims-seq-received'),
      )
    } finally {
      await grace.request.post(`${demo.url}/demo/websocket?blocked=false`)
      await grace.close()
    }
  })

  test('Cause a gap: history this page missed is reported as a gap, never lost silently', async ({
    browser,
  }) => {
    const judy = await open(browser, demo.url, 'judy')
    const kim = await open(browser, demo.url, 'kim')
    await expect.poll(() => number(judy, 'claims-seq-received')).toBeGreaterThan(0)
    await judy.getByTestId('cause-gap').click()
    await expect(judy.getByTestId('events')).toContainText(
      'you: the server kept this page away while it published 2001 messages on demo.seq (it keeps 2000)',
    )
    await expect(judy.getByTestId('events')).toContainText('gap on demo.seq')
    await expect(judy.getByTestId('connection-note')).toContainText('gap on demo.seq')
    await expect.poll(() => number(judy, 'claims-gaps')).toBeGreaterThan(0)
    await expect.poll(() => number(judy, 'claims-skipped')).toBeGreaterThan(0)
    await expect(judy.getByTestId('claims-lost')).toHaveText('0')
    await expect(judy.getByTestId('claims-duplicated')).toHaveText('0')
    // The other page was not kept away: it received every number.
    await expect(kim.getByTestId('claims-skipped')).toHaveCount(0)
    await expect(kim.getByTestId('claims-lost')).toHaveText('0')
    await judy.close()
    await kim.close()
  })

  test('the main page links the flood and script-tag pages, and nothing it loads is a 404', async ({
    page,
    request,
  }) => {
    const failed: string[] = []
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`)
    })
    await page.goto(`${demo.url}/?user=visitor`)
    await expect(page.getByTestId('connection-status')).toHaveText('connected')
    expect((await request.get(`${demo.url}/favicon.ico`)).status()).toBe(200)

    const more = page.getByTestId('more-pages')
    await expect(more).toContainText('5,000 messages a second')
    await more.getByRole('link', { name: 'Flood' }).click()
    await expect(page.getByTestId('flood-start')).toBeVisible()
    await page.getByRole('link', { name: 'back to the demo' }).click()
    await page.getByTestId('more-pages').getByRole('link', { name: 'Script tag' }).click()
    await expect(page.locator('#messages li').first()).toContainText('Headline')
    expect(failed).toEqual([])
  })
})

test.describe('the demo with a short history and short-lived tokens (--history-size 20 --token-ttl 30)', () => {
  let demo: RunningProcess
  test.beforeAll(async () => {
    demo = await startDemo(['--history-size', '20', '--token-ttl', '30'])
  })
  test.afterAll(async () => {
    await demo?.stop()
  })

  test('a late joiner is told that older messages are gone, and sees the newest', async ({ browser }) => {
    const heidi = await open(browser, demo.url, 'heidi')
    await heidi.evaluate(async () => {
      const client = (window as unknown as { holdfast: { publish(c: string, d: unknown): Promise<unknown> } })
        .holdfast
      for (let i = 1; i <= 25; i++)
        await client.publish('chat.lobby', { kind: 'message', user: 'heidi', text: `note ${i}` })
    })
    await expectNewestShown(heidi, 'note 25')
    const ivan = await open(browser, demo.url, 'ivan')
    await expect(ivan.getByTestId('history-note')).toHaveText(
      /Older messages are gone: the server keeps the last 20 messages of a room, for 10 minutes/,
    )
    await expectNewestShown(ivan, 'note 25')
    await expect(ivan.getByTestId('chat-log').getByText('heidi: note 1', { exact: true })).toHaveCount(0)
    await heidi.close()
    await ivan.close()
  })

  test('tokens are refreshed in band before they expire: the connection stays up', async ({ browser }) => {
    const liam = await open(browser, demo.url, 'liam')
    await expect(liam.getByTestId('events')).toContainText('token refreshed in-band (websocket)')
    await expect(liam.getByTestId('connection-note')).toHaveText('token refreshed in-band (websocket)')
    // The same connection all along: refreshed on it, never replaced.
    await expect(liam.getByTestId('connection-status')).toHaveText('connected')
    await expect(liam.getByTestId('claims-connects')).toHaveText('1')
    await liam.close()
  })
})
