import { defineConfig } from 'tsup'

export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    // The CLI is built by the second config at the same time; cleaning must leave it alone.
    clean: ['!cli.js*'],
    target: 'es2022',
    platform: 'node',
  },
  {
    entry: ['src/cli.ts'],
    format: ['esm'],
    sourcemap: true,
    clean: false,
    target: 'es2022',
    platform: 'node',
  },
])
