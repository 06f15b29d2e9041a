import { writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const r = await esbuild.build({
  entryPoints: ['packages/client/src/index.ts'],
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  metafile: true,
  logLevel: 'silent',
  alias: {
    '@holdfast/protocol': './packages/protocol/src/index.ts',
    ...(process.env.RWS_TS
      ? { 'reconnecting-websocket': './node_modules/reconnecting-websocket/reconnecting-websocket.ts' }
      : {}),
  },
})
const b = r.outputFiles[0].contents
writeFileSync('/tmp/src.min.js', b)
const out = Object.values(r.metafile.outputs)[0]
const rows = Object.entries(out.inputs)
  .map(([p, v]) => [p.replace(/.*(packages|node_modules)\//, ''), v.bytesInOutput])
  .sort((a, b) => b[1] - a[1])
if (process.argv[2] === '-v') for (const [p, n] of rows) console.log(String(n).padStart(6), p)
console.log('min', b.length, 'gzip', gzipSync(b, { level: 9 }).length)
