import { defineConfig } from 'vitest/config'
import { reporters } from '../../vitest.shared'

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
    typecheck: { enabled: true, include: ['test/**/*.test-d.{ts,tsx}'], tsconfig: './tsconfig.json' },
  },
})
