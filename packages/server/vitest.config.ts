import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 15_000,
    hookTimeout: 15_000,
    globalSetup: ['test/helpers/buildCli.ts', 'test/helpers/redisGlobalSetup.ts'],
  },
})
