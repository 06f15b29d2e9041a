import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  external: ['react', '@holdfast/client'],
  // Hooks need a client component boundary under React Server Components (Next.js app router).
  banner: { js: "'use client'" },
})
