import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const r = await esbuild.build({
  entryPoints: ['/tmp/exp/src/index.ts'],
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  logLevel: 'error',
  ...(process.env.MANGLE ? { mangleProps: /^_[a-zA-Z]/ } : {}),
  nodePaths: ['/work/main/node_modules'],
  alias: {
    '@holdfast/protocol': '/work/main/packages/protocol/src/index.ts',
    'eventsource-parser': process.env.EP_SRC
      ? '/work/main/node_modules/eventsource-parser/src/index.ts'
      : '/work/main/node_modules/eventsource-parser/dist/index.js',
    'reconnecting-websocket': process.env.STUB_RWS
      ? '/tmp/stub-rws.ts'
      : '/work/main/node_modules/reconnecting-websocket/reconnecting-websocket.ts',
    ...(process.env.STUB_P ? { 'eventsource-parser': '/tmp/stub-parser.ts' } : {}),
  },
})
const b = r.outputFiles[0].contents
console.log('min', b.length, 'gzip', gzipSync(b, { level: 9 }).length)
