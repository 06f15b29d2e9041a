import { defineConfig } from 'tsup'

export default defineConfig([
  {
    entry: { index: 'src/index.ts', websocket: 'src/websocket.ts', 'event-stream': 'src/eventStream.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
  },
  {
    // <script src=".../holdfast.global.js"> exposes window.Holdfast; dependencies are bundled in.
    entry: { holdfast: 'src/global.ts' },
    format: ['iife'],
    globalName: 'Holdfast',
    minify: true,
    sourcemap: true,
    platform: 'browser',
    target: 'es2020',
    noExternal: [/.*/],
    dts: false,
    clean: false,
  },
])
