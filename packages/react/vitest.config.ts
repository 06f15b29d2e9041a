import { defineConfig } from 'vitest/config'

export default defineConfig({
  // No @vitejs/plugin-react here: Vite 8 transforms TSX with oxc, told to use the automatic runtime.
  oxc: { jsx: { runtime: 'automatic' } },
  test: {
    environment: 'happy-dom',
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
    testTimeout: 10_000,
    hookTimeout: 10_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.{ts,tsx}'], tsconfig: './tsconfig.json' },
  },
})
