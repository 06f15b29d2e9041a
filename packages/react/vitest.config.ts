import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared.mjs'

export default defineConfig({
  // No @vitejs/plugin-react here: Vite 8 transforms TSX with oxc, told to use the automatic runtime.
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    reporters: reporters('react'),
    environment: 'happy-dom',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
    testTimeout: 60_000,
    hookTimeout: 10_000,
    // test/types.test-d.tsx is checked by tsc (`npm run typecheck`, a step of `npm test`: tsconfig.json
    // includes test/), which fails on any expectTypeOf mismatch. Vitest's typecheck mode checked the same
    // file a second time and printed "Testing types with tsc … is an experimental feature" on every run.
  },
})
