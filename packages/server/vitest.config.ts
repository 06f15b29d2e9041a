import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared'

export default defineConfig({
  test: {
    reporters: reporters('server'),
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 15_000,
    hookTimeout: 15_000,
    globalSetup: [
      'test/helpers/buildCli.ts',
      '../../test-support/redisGlobalSetup.ts',
      '../../test-support/redisClusterGlobalSetup.ts',
    ],
  },
})
