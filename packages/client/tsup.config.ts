import { defineConfig } from 'tsup'

// reconnecting-websocket (named in the design card) is compiled into our build from the TypeScript source its
// package ships, instead of being required at run time: its ES5 build carries tslib helpers and an Apache licence
// banner that cost 1.2 kB gzip, for the same code. Its MIT notice stays in the output (esbuild keeps /*! comments).
// It is unmaintained (4.4.0, pinned, is the last release), so shipping the exact code we test is safer too.
// Its private members are `_`-prefixed properties, which minifiers keep whole; the build shortens them (our own
// code has no `_`-prefixed properties: private members are #private fields). That is 0.2 kB gzip more.
const bundleRws = {
  noExternal: ['reconnecting-websocket'],
  esbuildOptions(options: { alias?: Record<string, string>; mangleProps?: RegExp }) {
    options.alias = { 'reconnecting-websocket': 'reconnecting-websocket/reconnecting-websocket.ts' }
    options.mangleProps = /^_[a-zA-Z]/
  },
}

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      websocket: 'src/websocket.ts',
      'event-stream': 'src/eventStream.ts',
      delivery: 'src/delivery.ts',
      tabs: 'src/tabs.ts',
      persist: 'src/persist.ts',
    },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    // Each entry self-contained: shared chunks cost every entry a few dozen bytes of import glue, and the
    // entries are alternatives (an app imports one client), so nothing is loaded twice.
    splitting: false,
    target: 'es2022',
    platform: 'neutral',
    ...bundleRws,
  },
  {
    // <script src=".../holdfast.global.js"> exposes window.Holdfast; dependencies are bundled in (and
    // holdfast.tabs.global.js, the same plus @holdfast/client/tabs and /persist). ES2022
    // (class private fields: Chrome 94, Firefox 93, Safari 15.4); an older target would lower them to WeakMaps.
    entry: { holdfast: 'src/global.ts', 'holdfast.tabs': 'src/globalTabs.ts' },
    format: ['iife'],
    globalName: 'Holdfast',
    minify: true,
    sourcemap: true,
    platform: 'browser',
    target: 'es2022',
    noExternal: [/.*/],
    dts: false,
    clean: false,
    esbuildOptions: bundleRws.esbuildOptions,
  },
])
