import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: {
    reporters: reporters('conformance'),
    environment: 'node',
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    globalSetup: ['../../test-support/redisGlobalSetup.ts'],
    // Each file runs the whole suite against one server; one at a time keeps them off each other's CPU.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
