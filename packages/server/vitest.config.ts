import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: {
    reporters: reporters('server'),
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: [
      'test/helpers/buildCli.ts',
      '../../test-support/redisGlobalSetup.ts',
      '../../test-support/redisClusterGlobalSetup.ts',
    ],
  },
})
