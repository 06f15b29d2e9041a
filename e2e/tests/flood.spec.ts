import { expect, test } from '@playwright/test'
import { type RunningProcess, startDemo } from '../fixtures/processes'

let demo: RunningProcess
test.beforeAll(async () => {
  demo = await startDemo()
})
test.afterAll(async () => {
  await demo?.stop()
})

test('a page receiving 5,000 messages a second with coalesce stays responsive', async ({ page, request }) => {
  await page.goto(`${demo.url}/flood.html`)
  await page.evaluate(() => {
    const w = window as unknown as { longTasks: number[]; frameGaps: number[] }
    w.longTasks = []
    w.frameGaps = []
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) w.longTasks.push(entry.duration)
    }).observe({ type: 'longtask', buffered: false })
    let last = performance.now()
    const frame = (t: number) => {
      w.frameGaps.push(t - last)
      last = t
      requestAnimationFrame(frame)
    }
    requestAnimationFrame(frame)
  })
  await request.post(`${demo.url}/demo/flood?rate=5000&seconds=5`)
  const seq = async () => Number(await page.getByTestId('flood-seq').textContent())
  await expect.poll(seq, { timeout: 20_000 }).toBe(25_000)
  const { longTasks, frameGaps } = await page.evaluate(() => {
    const w = window as unknown as { longTasks: number[]; frameGaps: number[] }
    return { longTasks: w.longTasks, frameGaps: w.frameGaps }
  })
  const longTaskMs = longTasks.reduce((a, b) => a + b, 0)
  const worstGap = Math.max(...frameGaps)
  console.log(
    `flood: ${await seq()} messages, ${longTasks.length} long tasks (${longTaskMs.toFixed(0)} ms), worst frame gap ${worstGap.toFixed(0)} ms, ${frameGaps.length} frames`,
  )
  // The bound: the main thread stays free for most of each second and no frame waits half a second.
  expect(longTaskMs).toBeLessThan(2500)
  expect(worstGap).toBeLessThan(500)
  expect(frameGaps.length).toBeGreaterThan(100)
})
