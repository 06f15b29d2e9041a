import { defineConfig } from 'tsup'

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      websocket: 'src/websocket.ts',
      'event-stream': 'src/eventStream.ts',
      delivery: 'src/delivery.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
  },
  {
    // <script src=".../holdfast.global.js"> exposes window.Holdfast; dependencies are bundled in. ES2022
    // (class private fields: Chrome 94, Firefox 93, Safari 15.4); an older target would lower them to WeakMaps.
    entry: { holdfast: 'src/global.ts' },
    format: ['iife'],
    globalName: 'Holdfast',
    minify: true,
    sourcemap: true,
    platform: 'browser',
    target: 'es2022',
    noExternal: [/.*/],
    dts: false,
    clean: false,
  },
])
