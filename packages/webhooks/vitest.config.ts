import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: {
    reporters: reporters('webhooks'),
    include: ['test/**/*.test.ts'],
    globalSetup: ['../../test-support/redisGlobalSetup.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
  },
})
