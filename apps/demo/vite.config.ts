import { resolve } from 'node:path'
import { defineConfig } from 'vite'

export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rolldownOptions: {
      input: {
        main: resolve(import.meta.dirname, 'index.html'),
        flood: resolve(import.meta.dirname, 'flood.html'),
      },
      // @holdfast/react starts with 'use client' for React Server Components trees. A browser bundle has no
      // use for the directive and dropping it is right, but Vite says so on every build (this app does not
      // use @vitejs/plugin-react, which would silence it). Only that warning is dropped; see
      // packages/react/README.md, "Server rendering".
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' && warning.message.includes('"use client"')) return
        warn(warning)
      },
    },
  },
})
