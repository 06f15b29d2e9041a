import { gzipSync } from 'node:zlib'
import * as esbuild from 'esbuild'

const files = process.argv.slice(2)
const rows = []
for (const f of files) {
  const r = await esbuild.build({
    entryPoints: [f],
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
    logLevel: 'silent',
    external: ['*'],
    plugins: [
      {
        name: 'ext',
        setup(b) {
          b.onResolve({ filter: /^\./ }, (a) => (a.importer ? { path: a.path, external: true } : undefined))
        },
      },
    ],
  })
  const b = r.outputFiles[0].contents
  rows.push([gzipSync(b, { level: 9 }).length, b.length, f.replace('packages/', '')])
}
rows.sort((a, b) => b[0] - a[0])
for (const [g, m, f] of rows) console.log(String(g).padStart(6), String(m).padStart(6), f)
console.log(rows.reduce((a, r) => a + r[0], 0))
