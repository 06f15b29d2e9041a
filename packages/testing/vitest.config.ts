import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  resolve: {
    // Tests run the source; test/package.test.ts checks the built package separately.
    alias: { '@holdfast/testing': fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  },
  test: {
    reporters: reporters('testing'),
    environment: 'node',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 10_000,
  },
})
