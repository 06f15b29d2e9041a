import { expect, test } from '@playwright/test'
import { type RunningProcess, startDemo } from '../fixtures/processes'

let demo: RunningProcess
test.beforeAll(async () => {
  demo = await startDemo()
})
test.afterAll(async () => {
  await demo?.stop()
})

test('a page receiving 5,000 messages a second with coalesce renders at most once a frame and ends on the last message', async ({
  page,
}) => {
  await page.goto(`${demo.url}/flood.html`)
  await expect(page.getByTestId('flood-seq')).toHaveText('0')
  // What `coalesce` with `schedule: 'frame'` guarantees, counted rather than timed: the page commits the
  // counter at most once per animation frame, however many messages arrive, and the last one is shown.
  // (A slow machine draws fewer frames and commits fewer times; nothing here depends on its speed.)
  await page.evaluate(() => {
    const w = window as unknown as { frames: number; commits: number }
    w.frames = 0
    w.commits = 0
    const frame = () => {
      w.frames++
      requestAnimationFrame(frame)
    }
    requestAnimationFrame(frame)
    const seq = document.querySelector('[data-testid="flood-seq"]')!
    new MutationObserver(() => {
      w.commits++
    }).observe(seq, { childList: true, characterData: true, subtree: true })
  })
  // The page's own button starts it: 5,000 a second for 5 seconds.
  await page.getByTestId('flood-start').click()
  await expect(page.getByTestId('flood-total')).toHaveText('25000')
  const seq = async () => Number(await page.getByTestId('flood-seq').textContent())
  await expect.poll(seq).toBe(25_000)
  await expect(page.getByTestId('flood-start')).toBeEnabled()
  const { frames, commits } = await page.evaluate(() => {
    const w = window as unknown as { frames: number; commits: number }
    return { frames: w.frames, commits: w.commits }
  })
  console.log(`flood: 25,000 messages shown in ${commits} commits over ${frames} frames`)
  expect(commits).toBeGreaterThan(0)
  // One more than the frames counted: the observer may see a commit of the frame it started in.
  expect(commits).toBeLessThanOrEqual(frames + 1)
})
