import { writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const entry = process.argv[2] ?? '@holdfast/client'
const r = await esbuild.build({
  stdin: {
    contents: `export * as m from ${JSON.stringify(entry)}`,
    resolveDir: '/work/main/bench',
    loader: 'js',
  },
  bundle: true,
  minify: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  metafile: true,
  logLevel: 'silent',
})
const b = r.outputFiles[0].contents
writeFileSync('/tmp/bundle.min.js', b)
console.log(b.length, gzipSync(b, { level: 9 }).length)
