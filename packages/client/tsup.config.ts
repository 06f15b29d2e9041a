import { readFile } from 'node:fs/promises'
import { defineConfig, type Options } from 'tsup'

// reconnecting-websocket (named in the design card) is compiled into our build from the TypeScript source its
// package ships, instead of being required at run time: its ES5 build carries tslib helpers and an Apache licence
// banner that cost 1.2 kB gzip, for the same code. Its MIT notice stays in the output (esbuild keeps /*! comments).
// It is unmaintained (4.4.0, pinned, is the last release), so shipping the exact code we test is safer too.
// Its private members are `_`-prefixed properties, which minifiers keep whole; the build shortens them (our own
// code has no `_`-prefixed properties: private members are #private fields). That is 0.2 kB gzip more.
// Its `debug` option logs through 17 `this._debug('…')` calls; we never set that option (our own `debug` logs what
// matters in our terms), so each call is dead code, and each becomes an empty statement here: 0.1 kB gzip. The
// build fails if a call no longer fits that one-statement-per-line shape, rather than strip half of one.
// Its public accessors that mirror the native WebSocket (`binaryType`, `bufferedAmount`, `extensions`, `protocol`,
// `retryCount`, `CLOSING`), `dispatchEvent`, `removeEventListener` and the `onopen`-style handler properties are never used, by us or by its own code; a class member survives
// tree-shaking, so each is cut from the source here (0.1 kB gzip). Each must be found exactly as expected, or the
// build fails rather than ship a half-cut class.
const UNUSED_RWS_MEMBERS: Record<string, number> = {
  binaryType: 2,
  bufferedAmount: 1,
  extensions: 1,
  protocol: 1,
  retryCount: 1,
  dispatchEvent: 1,
  removeEventListener: 1,
  CLOSING: 2,
}
const stripRwsDebug: NonNullable<Options['esbuildPlugins']>[number] = {
  name: 'strip-rws-debug',
  setup(build) {
    build.onLoad({ filter: /reconnecting-websocket[\\/]reconnecting-websocket\.ts$/ }, async ({ path }) => {
      let source = await readFile(path, 'utf8')
      const calls = source.split('this._debug(').length - 1
      let stripped = 0
      source = source.replace(/^(\s*)this\._debug\(.*\);[ \t]*$/gm, (_, indent: string) => {
        stripped++
        return `${indent};`
      })
      if (stripped !== calls)
        throw new Error(`strip-rws-debug: ${calls - stripped} this._debug() calls span lines`)
      for (const [name, expected] of Object.entries(UNUSED_RWS_MEMBERS)) {
        // A member at class indentation (4 spaces), from its signature to its closing brace at that indentation.
        const member = new RegExp(
          `^    (?:public |static )?(?:get |set )?${name}(?:<[^>]*>)?\\([^)]*\\)[^{\\n]*\\{\\n[\\s\\S]*?^    \\}\\n`,
          'gm',
        )
        const found = source.match(member)?.length ?? 0
        if (found !== expected)
          throw new Error(`strip-rws-debug: expected ${expected} definition(s) of ${name}, found ${found}`)
        source = source.replace(member, '')
      }
      // The `onopen`-style handler properties: we listen with addEventListener only.
      const handlers = [
        /^ {4}public on(?:open|close|error|message): .* = null;\n/gm,
        /^ *if \(this\.(on(?:open|close|error|message))\) \{\n *this\.\1\(event\);\n *\}\n/gm,
      ]
      for (const handler of handlers) {
        const found = source.match(handler)?.length ?? 0
        if (found !== 4) throw new Error(`strip-rws-debug: expected 4 on<event> handlers, found ${found}`)
        source = source.replace(handler, '')
      }
      return { contents: source, loader: 'ts' }
    })
  },
}

const bundleRws = {
  noExternal: ['reconnecting-websocket'],
  esbuildPlugins: [stripRwsDebug],
  esbuildOptions: ((options) => {
    options.alias = { 'reconnecting-websocket': 'reconnecting-websocket/reconnecting-websocket.ts' }
    options.mangleProps = /^_[a-zA-Z]/
    // Its licence travels in THIRD_PARTY_LICENSES.md (in the package's files) and a .LEGAL.txt beside each
    // build, not as a banner in every bundle that imports us.
    options.legalComments = 'external'
  }) satisfies Options['esbuildOptions'],
}

/**
 * Entries that extend the client use its `HoldfastError` (the same class as `@holdfast/client`'s, so
 * `instanceof` holds for their errors too): imported from the package itself at run time, not bundled again.
 */
const sharedError = {
  name: 'holdfast-shared-error',
  setup(build) {
    build.onResolve({ filter: /\/HoldfastError$/ }, () => ({ path: '@holdfast/client', external: true }))
  },
} satisfies NonNullable<Options['esbuildPlugins']>[number]

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
    // Types for every entry in one build, so they share one declaration of `HoldfastClient` (a class with
    // #private fields: two declarations of it would not be assignable to each other). `presence`'s code is
    // built below.
    dts: {
      entry: {
        index: 'src/index.ts',
        websocket: 'src/websocket.ts',
        'event-stream': 'src/eventStream.ts',
        delivery: 'src/delivery.ts',
        tabs: 'src/tabs.ts',
        persist: 'src/persist.ts',
        presence: 'src/presence.ts',
      },
    },
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
    // `@holdfast/client/presence`: presence rides on ordinary subscriptions, so the root entry stays as is.
    entry: { presence: 'src/presence.ts' },
    format: ['esm', 'cjs'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'es2022',
    platform: 'neutral',
    external: ['@holdfast/client'],
    esbuildPlugins: [sharedError],
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
    esbuildPlugins: bundleRws.esbuildPlugins,
  },
])
