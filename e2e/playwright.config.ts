import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'

// Debian's Chromium where present (Playwright cannot download browsers here); elsewhere Playwright's own.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const resultsDir = process.env.HOLDFAST_RESULTS_DIR

export default defineConfig({
  testDir: './tests',
  // Limits that only end a hung run: what a spec asserts is counted, never timed, so a busy machine makes
  // a run slower, not red.
  timeout: 180_000,
  expect: { timeout: 60_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: resultsDir
    ? [['list'], ['json', { outputFile: `${resultsDir}/playwright-e2e.json` }]]
    : [['list']],
  use: {
    browserName: 'chromium',
    headless: true,
    trace: 'retain-on-failure',
    launchOptions: {
      ...(existsSync(chromiumPath) ? { executablePath: chromiumPath } : {}),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
})
