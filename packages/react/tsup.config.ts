import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts', 'src/presence.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  external: ['react', '@holdfast/client'],
  // Each entry self-contained (the context is shared through a global symbol anyway): the root entry is
  // bundled as before, and `presence` costs only apps that import it.
  splitting: false,
  // Hooks need a client component boundary under React Server Components (Next.js app router).
  banner: { js: "'use client'" },
})
