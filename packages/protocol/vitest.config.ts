import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  test: { include: ['test/**/*.test.ts'], reporters: reporters('protocol') },
})
