import { defineConfig } from 'tsup'

export default defineConfig({
  // `presence` is its own entry: what only presence needs never changes the bundles of clients without it.
  entry: ['src/index.ts', 'src/presence.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Each entry self-contained: a shared chunk would change how `index` bundles, for a few bytes saved.
  splitting: false,
})
