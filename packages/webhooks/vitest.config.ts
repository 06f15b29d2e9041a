import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: {
    reporters: reporters('webhooks'),
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../test-support/redisGlobalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
