import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    dispatcher: 'src/dispatcher/index.ts',
    receiver: 'src/receiver/index.ts',
    cli: 'src/cli.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // Shared code (the error class above all) lives in one chunk per format, so `instanceof`
  // works across entries in CommonJS too.
  splitting: true,
  // Keep `node:` specifiers: edge bundlers recognise them as Node built-ins.
  removeNodeProtocol: false,
})
