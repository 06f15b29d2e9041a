import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: {
    environment: 'node',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.ts'],
    // Integration tests run real servers; keep them off each other's CPU on small machines.
    fileParallelism: false,
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: reporters('client'),
  },
})
